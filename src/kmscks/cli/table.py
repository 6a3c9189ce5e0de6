"""`--output table`: a port of awscli's MultiTable renderer, byte for byte.

Layer: cli. Same section layout, column scaling, vertical conversion when wider than the
terminal (read with TIOCGWINSZ on stdout, 80 when that fails), East-Asian width counting, and
the colour codes including colorama's autoreset artefacts (an ESC[0m after *every* write call;
../shared/contract/aws-cli-behaviour.md §5). Adapted from awscli/table.py and
awscli/formatter.py (Apache-2.0). Must not import botocore, colorama or server code.
"""

from __future__ import annotations

import sys
import unicodedata
from typing import Any, TextIO

RESET = "\x1b[0m"
BRIGHT_BLUE = "\x1b[1m\x1b[34m"
DIM_YELLOW = "\x1b[2m\x1b[33m"


def text_length(text: Any) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WFA" else 1 for char in str(text))


def terminal_width(default: int = 80) -> int:
    try:
        import fcntl
        import struct
        import termios

        packed = fcntl.ioctl(sys.stdout, termios.TIOCGWINSZ, b"\000" * 8)
        return int(struct.unpack("hhhh", packed)[1])
    except Exception:
        return default


def center_text(
    text: str, length: int, left: str = "|", right: str = "|", size: int | None = None
) -> str:
    if size is None:
        size = text_length(text)
    start = (length // 2) - (size // 2) - 1
    so_far = text_length(left) + start + size
    return left + " " * start + text + " " * (length - text_length(right) - so_far) + right


def align_left(text: str, length: int, left: str, right: str, size: int) -> str:
    padding = 2 if length - (size + 2 + text_length(left) + text_length(right)) >= 0 else 0
    so_far = len(left) + padding + size
    return left + " " * padding + text + " " * (length - so_far - len(right)) + right


class Styler:
    def row(self, text: str) -> str:
        return text

    def indent(self, text: str) -> str:
        return text


class ColorStyler(Styler):
    def row(self, text: str) -> str:
        return BRIGHT_BLUE + text + RESET

    def indent(self, text: str) -> str:
        return DIM_YELLOW + text + RESET


def colorama_would_init(color: str, is_tty: bool) -> bool:
    """Whether awscli's table formatter turns colorama on (which then also wraps stderr)."""
    return color == "on" or (color == "auto" and is_tty)


class AutoResetStream:
    """colorama.init(autoreset=True, strip=False) on stdout: a reset after every write()."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.write(RESET)


class IndentedStream:
    def __init__(self, stream: Any, level: int, left: str, right: str) -> None:
        self._stream = stream
        self._level = level
        self._left = left
        self._right = right

    def write(self, text: str) -> None:
        self._stream.write(self._left * self._level)
        if text.endswith("\n"):
            self._stream.write(text[:-1])
            self._stream.write(self._right * self._level)
            self._stream.write("\n")
        else:
            self._stream.write(text)


class Section:
    def __init__(self, title: str | None = "", indent_level: int = 0) -> None:
        self.title = title
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self.indent_level = indent_level
        self._columns: int | None = None
        self._max_widths: list[int] = []

    def column_widths(self, padding: int = 0, max_width: int | None = None) -> list[int]:
        unscaled = [width + padding for width in self._max_widths]
        if max_width is None or not unscaled:
            return unscaled
        factor = max_width / float(sum(unscaled))
        scaled = [round(factor * width) for width in unscaled]
        off_by = sum(scaled) - max_width
        while off_by != 0:
            order = range(len(scaled)) if off_by > 0 else reversed(range(len(scaled)))
            for index in order:
                if off_by > 0:
                    scaled[index] -= 1
                    off_by -= 1
                else:
                    scaled[index] += 1
                    off_by += 1
                if off_by == 0:
                    break
        return scaled

    def total_width(self, padding: int = 0, outer_padding: int = 0) -> int:
        total = sum(width + padding for width in self.column_widths()) + 2 + 2 * outer_padding
        return max(text_length(self.title) + 2 + 2 * outer_padding, total)

    def add_header(self, headers: list[str]) -> None:
        self._update_widths(headers)
        if self._columns is None:
            self._columns = len(headers)
        self.headers = headers

    def add_row(self, row: list[Any]) -> None:
        if self._columns is None:
            self._columns = len(row)
        if len(row) != self._columns:
            raise ValueError(f"Row should have {self._columns} elements, instead it has {len(row)}")
        cells = [str(cell) for cell in row]
        self.rows.append(cells)
        self._update_widths(cells)

    def _update_widths(self, row: list[str]) -> None:
        if not self._max_widths:
            self._max_widths = [text_length(cell) for cell in row]
        else:
            for index, cell in enumerate(row):
                self._max_widths[index] = max(text_length(cell), self._max_widths[index])


class MultiTable:
    def __init__(self, styler: Styler, width: int) -> None:
        self._sections: list[Section] = []
        self._current: Section | None = None
        self._styler = styler
        self._terminal_width = width

    def new_section(self, title: str | None, indent_level: int = 0) -> None:
        self._current = Section(title, indent_level)
        self._sections.append(self._current)

    def add_row_header(self, headers: list[str]) -> None:
        assert self._current is not None
        self._current.add_header(headers)

    def add_row(self, row: list[Any]) -> None:
        assert self._current is not None
        self._current.add_row(row)

    def _max_width(self) -> int:
        return max(s.total_width(padding=4, outer_padding=s.indent_level) for s in self._sections)

    def render(self, stream: Any) -> None:
        max_width = self._max_width()
        if max_width > self._terminal_width:
            self._convert_to_vertical()
            max_width = self._max_width()
        stream.write("-" * max_width + "\n")
        for section in self._sections:
            indent = self._styler.indent("|")
            indented = IndentedStream(stream, section.indent_level, indent, indent)
            width = max_width - section.indent_level * 2
            self._render_title(section, width, indented)
            self._render_column_titles(section, width, indented)
            self._render_rows(section, width, indented)

    def _convert_to_vertical(self) -> None:
        for index, section in enumerate(self._sections):
            if len(section.rows) == 1 and section.headers:
                vertical = Section(section.title, section.indent_level)
                for header, cell in zip(section.headers, section.rows[0], strict=False):
                    vertical.add_row([header, cell])
                self._sections[index] = vertical

    def _render_title(self, section: Section, width: int, stream: Any) -> None:
        if section.title:
            stream.write(
                center_text(section.title, width, "|", "|", text_length(section.title)) + "\n"
            )
            if not section.headers and not section.rows:
                stream.write("+%s+" % ("-" * (width - 2)) + "\n")

    def _line_break(self, stream: Any, widths: list[int]) -> None:
        parts = ["+%s+" % ("-" * (widths[0] - 2))]
        parts.extend("%s+" % ("-" * (width - 1)) for width in widths[1:])
        parts.append("\n")
        stream.write("".join(parts))

    def _render_column_titles(self, section: Section, width: int, stream: Any) -> None:
        if not section.headers:
            return
        widths = section.column_widths(padding=4, max_width=width)
        current = ""
        for index, (column, header) in enumerate(zip(widths, section.headers, strict=False)):
            current += center_text(
                header, column, "|" if index == 0 else "", "|", text_length(header)
            )
        self._line_break(stream, widths)
        stream.write(current + "\n")

    def _render_rows(self, section: Section, width: int, stream: Any) -> None:
        if not section.rows:
            return
        widths = section.column_widths(padding=4, max_width=width)
        if not widths:
            return
        self._line_break(stream, widths)
        for row in section.rows:
            current = ""
            for index, (column, cell) in enumerate(zip(widths, row, strict=False)):
                current += align_left(
                    self._styler.row(cell),
                    column,
                    "|" if index == 0 else "",
                    "|",
                    text_length(cell),
                )
            stream.write(current + "\n")
        self._line_break(stream, widths)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, list | dict)


def _group_scalar_keys(current: dict[str, Any]) -> tuple[list[str], list[str]]:
    headers = sorted(key for key in current if _is_scalar(current[key]))
    more = sorted(key for key in current if not _is_scalar(current[key]))
    return headers, more


class TableBuilder:
    """awscli's TableFormatter._build_table: sections from an arbitrary response."""

    def __init__(self, table: MultiTable) -> None:
        self.table = table

    def build(self, title: str | None, current: Any, indent_level: int = 0) -> bool:
        if not current:
            return False
        if title is not None:
            self.table.new_section(title, indent_level)
        if isinstance(current, list):
            if isinstance(current[0], dict):
                self._from_list(current, indent_level, title)
            else:
                for item in current:
                    if _is_scalar(item):
                        self.table.add_row([item])
                    elif all(_is_scalar(element) for element in item):
                        self.table.add_row(item)
                    else:
                        self.build(None, item)
        if isinstance(current, dict):
            headers, more = _group_scalar_keys(current)
            if len(headers) == 1:
                self.table.add_row([headers[0], current[headers[0]]])
            elif headers:
                self.table.add_row_header(headers)
                self.table.add_row([current[key] for key in headers])
            for remaining in more:
                self.build(remaining, current[remaining], indent_level + 1)
        return True

    def _from_list(self, current: list[Any], indent_level: int, title: str | None) -> None:
        headers: set[str] = set()
        more: set[str] = set()
        for item in current:
            item_headers, item_more = _group_scalar_keys(item)
            headers.update(item_headers)
            more.update(item_more)
        sorted_headers, sorted_more = sorted(headers), sorted(more)
        self.table.add_row_header(sorted_headers)
        first = True
        for element in current:
            if not first and sorted_more:
                # awscli passes None along too; its width then counts the text "None".
                self.table.new_section(title, indent_level)
                self.table.add_row_header(sorted_headers)
            first = False
            self.table.add_row([element.get(header, "") for header in sorted_headers])
            for remaining in sorted_more:
                if remaining in element:
                    self.build(remaining, element[remaining], indent_level + 1)


def render_table(title: str, response: Any, color: str, stream: TextIO, is_tty: bool) -> None:
    colored = color == "on" or (color == "auto" and is_tty)
    table = MultiTable(ColorStyler() if colored else Styler(), terminal_width())
    if TableBuilder(table).build(title, response):
        # colorama wraps sys.stdout only: output going to the pager has no reset artefacts.
        table.render(AutoResetStream(stream) if colored and stream is sys.stdout else stream)
