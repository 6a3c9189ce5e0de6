"""The AWS CLI's shorthand syntax for structure options: `Key=Value,Key2=Value2`.

Layer: cli. A port of awscli's ShorthandParser (awscli/shorthand.py, Apache-2.0): keys, `=`,
plain, quoted, comma-separated (list) values, `[...]` lists and `{...}` hashes, its error texts
with a caret under the failing position, and the BackCompatVisitor pass that wraps single
values of list members in a list. Imports only `re` and `string`; no server code.
"""

from __future__ import annotations

import re
import string
from typing import Any

from kmscks.cli.spec import Shape, members

# What _current() returns past the end: a str (for typing) that is no character of any
# class the parser tests against.
_EOF = "\x00<EOF>"


class _NamedRegex:
    def __init__(self, name: str, pattern: str) -> None:
        self.name = name
        self.regex = re.compile(pattern, re.UNICODE)

    def match(self, value: str) -> re.Match[str] | None:
        return self.regex.match(value)


class ShorthandParseError(Exception):
    def _error_location(self, value: str, index: int) -> str:
        consumed, remaining, spaces = value, "", index
        if "\n" in value[:index]:
            spaces = index - value[:index].rindex("\n") - 1
        if "\n" in value[index:]:
            next_newline = index + value[index:].index("\n")
            consumed, remaining = value[:next_newline], value[next_newline:]
        return f"{consumed}\n{' ' * spaces}^{remaining}"


class ShorthandParseSyntaxError(ShorthandParseError):
    # Since 2.2x (2.33.31 included) the input line after "for input:" starts with one space;
    # the caret below it is not shifted, so it points one column left of the failing character.
    def __init__(self, value: str, expected: str, actual: str, index: int) -> None:
        super().__init__(
            f"Expected: '{expected}', received: '{actual}' for input:\n "
            + self._error_location(value, index)
        )


class DuplicateKeyInObjectError(ShorthandParseError):
    def __init__(self, key: str, value: str, index: int) -> None:
        super().__init__(
            f'Second instance of key "{key}" encountered for input:\n'
            f"{self._error_location(value, index)}\n"
            'This is often because there is a preceding "," instead of a space.'
        )


class ShorthandParser:
    _SINGLE_QUOTED = _NamedRegex("singled quoted", r"\'(?:\\\\|\\\'|[^\'])*\'")
    _DOUBLE_QUOTED = _NamedRegex("double quoted", r'"(?:\\\\|\\"|[^"])*"')
    _START_WORD = r"\!\#-&\(-\+\--\<\>-Z\\-z" + "\u007c-\uffff"
    _FIRST_FOLLOW_CHARS = r"\s\!\#-&\(-\+\--\\\^-\|~-" + "\uffff"
    _SECOND_FOLLOW_CHARS = r"\s\!\#-&\(-\+\--\<\>-" + "\uffff"
    _ESCAPED_COMMA = "(\\\\,)"
    _FIRST_VALUE = _NamedRegex(
        "first",
        f"({_ESCAPED_COMMA}|[{_START_WORD}])({_ESCAPED_COMMA}|[{_FIRST_FOLLOW_CHARS}])*",
    )
    _SECOND_VALUE = _NamedRegex(
        "second",
        f"({_ESCAPED_COMMA}|[{_START_WORD}])({_ESCAPED_COMMA}|[{_SECOND_FOLLOW_CHARS}])*",
    )

    def parse(self, value: str) -> dict[str, Any]:
        self._input = value
        self._index = 0
        self._resolve_files = False
        return self._parameter()

    def _parameter(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        key, value = self._keyval()
        params[key] = value
        last_index = self._index
        while self._index < len(self._input):
            self._expect(",", consume_whitespace=True)
            key, value = self._keyval()
            if key in params:
                raise DuplicateKeyInObjectError(key, self._input, last_index + 1)
            params[key] = value
            last_index = self._index
        return params

    def _keyval(self) -> tuple[str, Any]:
        key = self._key()
        self._file_assignment()
        self._expect("=", consume_whitespace=True)
        return key, self._values()

    def _file_assignment(self) -> None:
        # `key@=file://path` (awscli 2.2x, 2.33.31 included): the values of this key that are
        # `file://` or `fileb://` references are replaced by the file's text or bytes. The flag
        # stays set for the rest of the value, lists and hashes included, as in awscli.
        self._resolve_files = False
        try:
            self._expect("@", consume_whitespace=True)
            self._resolve_files = True
        except ShorthandParseSyntaxError:
            pass

    def _resolved(self, value: str) -> Any:
        if not self._resolve_files:
            return value
        from kmscks.cli.arguments import read_paramfile  # arguments imports this module

        return read_paramfile(value)

    def _key(self) -> str:
        valid = string.ascii_letters + string.digits + "-_.#/:"
        start = self._index
        while not self._at_eof() and self._current() in valid:
            self._index += 1
        return self._input[start : self._index]

    def _values(self) -> Any:
        if self._at_eof():
            return ""
        if self._current() == "[":
            return self._explicit_list()
        if self._current() == "{":
            return self._hash_literal()
        return self._csv_value()

    def _csv_value(self) -> Any:
        first = self._first_value()
        self._consume_whitespace()
        if self._at_eof() or self._input[self._index] != ",":
            return first
        self._expect(",", consume_whitespace=True)
        values = [first]
        while True:
            try:
                current = self._second_value()
                self._consume_whitespace()
                if self._at_eof():
                    values.append(current)
                    break
                self._expect(",", consume_whitespace=True)
                values.append(current)
            except ShorthandParseSyntaxError:
                if self._at_eof():
                    raise
                self._backtrack_to(",")
                break
        return first if len(values) == 1 else values

    def _value(self) -> Any:
        result = self._FIRST_VALUE.match(self._input[self._index :])
        if result is not None:
            return self._resolved(self._consume_matched(result).replace("\\,", ",").rstrip())
        return ""

    def _explicit_list(self) -> list[Any]:
        self._expect("[", consume_whitespace=True)
        values = []
        while self._current() != "]":
            values.append(self._explicit_values())
            self._consume_whitespace()
            if self._current() != "]":
                self._expect(",")
                self._consume_whitespace()
        self._expect("]")
        return values

    def _explicit_values(self) -> Any:
        if self._current() == "[":
            return self._explicit_list()
        if self._current() == "{":
            return self._hash_literal()
        return self._first_value()

    def _hash_literal(self) -> dict[str, Any]:
        self._expect("{", consume_whitespace=True)
        keyvals = {}
        while self._current() != "}":
            key = self._key()
            self._file_assignment()
            self._expect("=", consume_whitespace=True)
            value = self._explicit_values()
            self._consume_whitespace()
            if self._current() != "}":
                self._expect(",")
                self._consume_whitespace()
            keyvals[key] = value
        self._expect("}")
        return keyvals

    def _first_value(self) -> Any:
        if self._current() == "'":
            return self._consume_quoted(self._SINGLE_QUOTED, "'")
        if self._current() == '"':
            return self._consume_quoted(self._DOUBLE_QUOTED, '"')
        return self._value()

    def _consume_quoted(self, regex: _NamedRegex, escaped: str) -> Any:
        value = self._must_consume(regex)[1:-1]
        return self._resolved(value.replace("\\" + escaped, escaped).replace("\\\\", "\\"))

    def _second_value(self) -> Any:
        if self._current() == "'":
            return self._consume_quoted(self._SINGLE_QUOTED, "'")
        if self._current() == '"':
            return self._consume_quoted(self._DOUBLE_QUOTED, '"')
        return self._resolved(self._must_consume(self._SECOND_VALUE).replace("\\,", ",").rstrip())

    def _expect(self, char: str, consume_whitespace: bool = False) -> None:
        if consume_whitespace:
            self._consume_whitespace()
        if self._index >= len(self._input):
            raise ShorthandParseSyntaxError(self._input, char, "EOF", self._index)
        actual = self._input[self._index]
        if actual != char:
            raise ShorthandParseSyntaxError(self._input, char, actual, self._index)
        self._index += 1
        if consume_whitespace:
            self._consume_whitespace()

    def _must_consume(self, regex: _NamedRegex) -> str:
        result = regex.match(self._input[self._index :])
        if result is not None:
            return self._consume_matched(result)
        raise ShorthandParseSyntaxError(self._input, f"<{regex.name}>", "<none>", self._index)

    def _consume_matched(self, result: re.Match[str]) -> str:
        start, end = result.span()
        value = self._input[self._index + start : self._index + end]
        self._index += end - start
        return value

    def _current(self) -> str:
        return self._input[self._index] if self._index < len(self._input) else _EOF

    def _at_eof(self) -> bool:
        return self._index >= len(self._input)

    def _backtrack_to(self, char: str) -> None:
        while self._index >= 0 and self._input[self._index] != char:
            self._index -= 1

    def _consume_whitespace(self) -> None:
        while self._current() is not _EOF and self._current() in string.whitespace:
            self._index += 1


def back_compat(value: Any, shape: Shape) -> Any:
    """awscli's BackCompatVisitor: a single value for a list member becomes a one-item list and
    numbers and booleans given as text are converted, following the model."""
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        for name, member in members(shape).items():
            if value.get(name) is not None:
                value[name] = back_compat(value[name], member)
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            value[key] = back_compat(item, shape["value"])
    elif kind == "list":
        if not isinstance(value, list):
            return [value]
        return [back_compat(item, shape["member"]) for item in value]
    elif kind in ("integer", "long"):
        return int(value)
    elif kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def parse(value: str | list[str], shape: Shape) -> Any:
    """awscli's ParamShorthandParser: `Key=Value,...` for a structure or map option, or one
    such value per item of a list option, then the model's conversions (BackCompatVisitor)."""
    if isinstance(value, list):
        parsed: Any = [ShorthandParser().parse(item) for item in value]
    else:
        parsed = ShorthandParser().parse(value)
    if shape["type"] == "list" and not isinstance(parsed, list):
        # One value read from a file for a list option: awscli's visitor wraps it in a list
        # on a parent it then throws away, so the bare structure reaches validation.
        return parsed
    return back_compat(parsed, shape)
