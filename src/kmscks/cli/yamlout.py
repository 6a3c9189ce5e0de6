"""YAML output as the AWS CLI v2 writes it, without importing a YAML library.

Layer: cli. awscli v2 dumps with ruamel.yaml 0.17.21 `YAML(typ='safe')`, which uses the libyaml
C emitter, the safe representer (sorted mapping keys, block style, `[]`/`{}` for empty
collections) and the YAML 1.2 resolver (strings that would read back as another type are
quoted). Newer ruamel releases emit different text (e.g. double-quoted PEMs), so the emitter
logic is ported here instead: scalar analysis, style choice and the plain / single-quoted /
double-quoted writers with folding at 80 columns, after PyYAML's emitter (MIT), which libyaml
mirrors. Handles dict, list, str, int, float, bool and None. Must not import server code.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

BEST_WIDTH = 80
BEST_INDENT = 2
_BREAKS = "\n\x85\u2028\u2029"
_WHITESPACE = "\0 \t\r\n\x85\u2028\u2029"

# ruamel's VersionedResolver, YAML 1.2 rows: (first characters, pattern).
_IMPLICIT = [
    ("tTfF", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")),
    (
        "-+0123456789.",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
    ),
    (
        "-+0123456789",
        re.compile(
            r"""^(?:[-+]?0b[0-1_]+
            |[-+]?0o?[0-7_]+
            |[-+]?[0-9_]+
            |[-+]?0x[0-9a-fA-F_]+)$""",
            re.X,
        ),
    ),
    ("<", re.compile(r"^(?:<<)$")),
    ("~nN", re.compile(r"^(?:~|null|Null|NULL| )$")),
    (
        "0123456789",
        re.compile(
            r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
            |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
            (?:[Tt]|[ \t]+)[0-9][0-9]?
            :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
            (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
            re.X,
        ),
    ),
    ("=", re.compile(r"^(?:=)$")),
    ("!&*", re.compile(r"^(?:!|&|\*)$")),
]


def _resolves_to_other_type(value: str) -> bool:
    """True when a plain `value` would be read back as something other than a string."""
    if value == "":
        return True  # the null resolver matches the empty string
    return any(value[0] in first and pattern.match(value) for first, pattern in _IMPLICIT)


class _Analysis:
    __slots__ = ("allow_block_plain", "allow_single_quoted", "empty", "multiline")

    def __init__(self, scalar: str) -> None:
        self.empty = not scalar
        self.multiline = False
        self.allow_block_plain = True
        self.allow_single_quoted = True
        if scalar:
            self._analyze(scalar)

    def _analyze(self, scalar: str) -> None:
        block_indicators = scalar.startswith(("---", "..."))
        line_breaks = special = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = False
        preceded_by_ws = True
        followed_by_ws = len(scalar) == 1 or scalar[1] in _WHITESPACE
        previous_space = previous_break = False
        last = len(scalar) - 1
        for index, ch in enumerate(scalar):
            if index == 0:
                if ch in "#,[]{}&*!|>'\"%@`":
                    block_indicators = True
                if ch in "?:" and followed_by_ws:
                    block_indicators = True
                if ch == "-" and followed_by_ws:
                    block_indicators = True
            else:
                if ch == ":" and followed_by_ws:
                    block_indicators = True
                if ch == "#" and preceded_by_ws:
                    block_indicators = True
            if ch in _BREAKS:
                line_breaks = True
            if not (ch == "\n" or "\x20" <= ch <= "\x7e"):
                # libyaml's IS_PRINTABLE (not PyYAML's): NEL and characters beyond the BMP
                # (emoji) are not printable, so such a scalar is double-quoted with `\N` or
                # `\U0001F600` escapes, as aws-cli 2.33.31 (ruamel.yaml 0.17.21's CEmitter) does.
                printable = (
                    "\xa0" <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd"
                ) and ch != "\ufeff"
                if not printable:
                    special = True
            if ch == " ":
                leading_space = leading_space or index == 0
                trailing_space = trailing_space or index == last
                break_space = break_space or previous_break
                previous_space, previous_break = True, False
            elif ch in _BREAKS:
                leading_break = leading_break or index == 0
                trailing_break = trailing_break or index == last
                space_break = space_break or previous_space
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_ws = ch in _WHITESPACE
            followed_by_ws = index + 2 >= len(scalar) or scalar[index + 2] in _WHITESPACE
        if leading_space or leading_break or trailing_space or trailing_break:
            self.allow_block_plain = False
        if break_space:
            self.allow_block_plain = self.allow_single_quoted = False
        if space_break or special:
            self.allow_block_plain = self.allow_single_quoted = False
        if line_breaks:
            self.allow_block_plain = False
        if block_indicators:
            self.allow_block_plain = False
        self.multiline = line_breaks


_ESCAPES = {
    "\0": "0", "\x07": "a", "\x08": "b", "\x09": "t", "\x0a": "n", "\x0b": "v", "\x0c": "f",
    "\x0d": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L",
    "\u2029": "P",
}  # fmt: skip


class _Emitter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.indent: int | None = None
        self.indents: list[int | None] = []
        self.column = 0
        self.whitespace = True
        self.indention = True
        self.flow_level = 0

    # -- low-level writers (PyYAML's Emitter) --

    def write(self, data: str) -> None:
        self.column += len(data)
        self.stream.write(data)

    def indicator(
        self, text: str, need_ws: bool, whitespace: bool = False, indention: bool = False
    ) -> None:
        data = text if self.whitespace or not need_ws else " " + text
        self.whitespace = whitespace
        self.indention = self.indention and indention
        self.write(data)

    def line_break(self, data: str = "\n") -> None:
        self.whitespace = True
        self.indention = True
        self.column = 0
        self.stream.write(data)

    def write_indent(self) -> None:
        indent = self.indent or 0
        if (
            not self.indention
            or self.column > indent
            or (self.column == indent and not self.whitespace)
        ):
            self.line_break()
        if self.column < indent:
            self.whitespace = True
            self.write(" " * (indent - self.column))

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        self.indents.append(self.indent)
        if self.indent is None:
            self.indent = BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += BEST_INDENT

    # -- nodes --

    def node(self, value: Any, mapping_context: bool = False, simple_key: bool = False) -> None:
        if isinstance(value, dict):
            if not value:
                self.indicator("{", True, whitespace=True)
                self.indicator("}", False)
                return
            self.increase_indent()
            for key in sorted(value):
                self.write_indent()
                if _is_simple_key(key):
                    self.node(key, mapping_context=True, simple_key=True)
                    self.indicator(":", False)
                else:  # libyaml's complex key: `? key` and `: value` on lines of their own
                    self.indicator("?", True, indention=True)
                    self.node(key, mapping_context=True)
                    self.write_indent()
                    self.indicator(":", True, indention=True)
                self.node(value[key], mapping_context=True)
            self.indent = self.indents.pop()
        elif isinstance(value, list | tuple):
            if not value:
                self.indicator("[", True, whitespace=True)
                self.indicator("]", False)
                return
            self.increase_indent(indentless=mapping_context and not self.indention)
            for item in value:
                self.write_indent()
                self.indicator("-", True, indention=True)
                self.node(item)
            self.indent = self.indents.pop()
        else:
            self.increase_indent(flow=True)
            self.scalar(value, simple_key)
            self.indent = self.indents.pop()

    def scalar(self, value: Any, simple_key: bool) -> None:
        plain_allowed = True
        if value is None:
            text = "null"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, float):
            text = _float_text(value)
        else:
            text = str(value)
            plain_allowed = not _resolves_to_other_type(text)
        analysis = _Analysis(text)
        style = (
            "'" if analysis.allow_single_quoted and not (simple_key and analysis.multiline) else '"'
        )
        if (
            plain_allowed
            and not (simple_key and (analysis.empty or analysis.multiline))
            and analysis.allow_block_plain
        ):
            style = ""
        split = not simple_key
        if style == "":
            self.write_plain(text, split)
        elif style == "'":
            self.write_single_quoted(text, split)
        else:
            self.write_double_quoted(text, split)

    def write_plain(self, text: str, split: bool) -> None:
        if not text:
            return
        if not self.whitespace:
            self.write(" ")
        self.whitespace = self.indention = False
        spaces = False
        start = end = 0
        while end <= len(text):
            ch = text[end] if end < len(text) else None
            if spaces:
                if ch != " ":
                    if start + 1 == end and self.column > BEST_WIDTH and split:
                        self.write_indent()
                        self.whitespace = self.indention = False
                    else:
                        self.write(text[start:end])
                    start = end
            elif ch is None or ch in " " + _BREAKS:
                self.write(text[start:end])
                start = end
            if ch is not None:
                spaces = ch == " "
            end += 1

    def write_single_quoted(self, text: str, split: bool) -> None:
        self.indicator("'", True)
        spaces = breaks = False
        start = end = 0
        while end <= len(text):
            ch = text[end] if end < len(text) else None
            if spaces:
                if ch is None or ch != " ":
                    if (
                        start + 1 == end
                        and self.column > BEST_WIDTH
                        and split
                        and start != 0
                        and end != len(text)
                    ):
                        self.write_indent()
                    else:
                        self.write(text[start:end])
                    start = end
            elif breaks:
                if ch is None or ch not in _BREAKS:
                    if text[start] == "\n":
                        self.line_break()
                    for br in text[start:end]:
                        self.line_break("\n" if br == "\n" else br)
                    self.write_indent()
                    start = end
            elif (ch is None or ch in " " + _BREAKS or ch == "'") and start < end:
                self.write(text[start:end])
                start = end
            if ch == "'":
                self.write("''")
                start = end + 1
            if ch is not None:
                spaces = ch == " "
                breaks = ch in _BREAKS
            end += 1
        self.indicator("'", False)

    def write_double_quoted(self, text: str, split: bool) -> None:
        # libyaml's yaml_emitter_write_double_quoted (not PyYAML's): a line is folded only at
        # a single space past the best width, the space becomes the line break (no trailing
        # backslash), and a following space is escaped with a backslash.
        self.indicator('"', True)
        spaces = False
        for index, ch in enumerate(text):
            if ch in '"\\\x85\u2028\u2029\ufeff' or not (
                "\x20" <= ch <= "\x7e" or "\xa0" <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd"
            ):
                if ch in _ESCAPES:
                    self.write("\\" + _ESCAPES[ch])
                elif ch <= "\xff":
                    self.write(f"\\x{ord(ch):02X}")
                elif ch <= "\uffff":
                    self.write(f"\\u{ord(ch):04X}")
                else:
                    self.write(f"\\U{ord(ch):08X}")
                spaces = False
            elif ch == " ":
                if split and not spaces and self.column > BEST_WIDTH and 0 < index < len(text) - 1:
                    self.write_indent()
                    if text[index + 1] == " ":
                        self.write("\\")
                else:
                    self.write(ch)
                spaces = True
            else:
                self.write(ch)
                spaces = False
        self.indicator('"', False)


def _is_simple_key(key: Any) -> bool:
    """libyaml's yaml_emitter_check_simple_key for a scalar: no line break (CR included) and
    at most 128 bytes of UTF-8."""
    text = str(key)
    if any(ch in text for ch in "\r" + _BREAKS):
        return False
    return len(text.encode("utf-8", "surrogatepass")) <= 128


def _float_text(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    return repr(value).lower()


def dump(value: Any, stream: TextIO) -> None:
    """Write one YAML document holding `value` (a collection) the way awscli does."""
    emitter = _Emitter(stream)
    emitter.node(value)
    emitter.write_indent()  # document end: finish the last line
