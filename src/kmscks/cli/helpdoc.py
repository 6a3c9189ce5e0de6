"""The model's HTML documentation as terminal text: parsed into blocks, then wrapped.

Layer: cli. `blocks()` runs at build time (helpgen.py stores its result in help.json), `render()`
when a help page is printed. A block is `[kind, depth, text]`: kind `p` (a paragraph), `li` (the
first paragraph of a list item, drawn with awscli's `o` bullet) or `pre` (kept as written);
depth is the list nesting. Inline markup (code, i, b, a) keeps only its text, as in awscli's
man pages without the bold/underline overstrikes. Imports only the standard library.
"""

from __future__ import annotations

from html.parser import HTMLParser

Block = list  # [kind: str, depth: int, text: str]

_PARAGRAPH_TAGS = {"p", "note", "important", "dt", "dd", "div", "br", "h1", "h2", "h3", "h4"}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._text: list[str] = []
        self._depth = 0
        self._item_open = False  # the next paragraph starts a list item
        self._pre = 0

    def _flush(self) -> None:
        raw = "".join(self._text)
        self._text = []
        if self._pre:
            text = raw.strip("\n")
            if text.strip():
                self.blocks.append(["pre", self._depth, text])
            return
        text = " ".join(raw.split())
        if not text:
            return
        kind = "li" if self._item_open else "p"
        self._item_open = False
        self.blocks.append([kind, self._depth, text])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("ul", "ol"):
            self._flush()
            self._depth += 1
        elif tag == "li":
            self._flush()
            self._item_open = True
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag in _PARAGRAPH_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "ol"):
            self._flush()
            self._depth = max(0, self._depth - 1)
            self._item_open = False
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in _PARAGRAPH_TAGS or tag == "li":
            self._flush()

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def blocks(html: str) -> list[Block]:
    """The documentation's paragraphs, list items and preformatted parts, in order."""
    parser = _Parser()
    parser.feed(html or "")
    parser.close()
    return parser.blocks


def render(doc: list[Block], indent: int, width: int) -> list[str]:
    """Lines of `doc` wrapped to `width`, with a blank line between blocks (as in a man page)."""
    import textwrap

    lines: list[str] = []
    for kind, depth, text in doc:
        if lines:
            lines.append("")
        margin = " " * (indent + 2 * max(0, depth - 1) + (2 if depth else 0))
        if kind == "pre":
            lines.extend(margin + "  " + line for line in text.splitlines())
            continue
        first = margin
        if kind == "li":
            first = " " * (len(margin) - 2) + "o "
        lines.extend(
            textwrap.wrap(
                text,
                width=max(width, len(margin) + 20),
                initial_indent=first,
                subsequent_indent=margin,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return lines


def first_sentence(doc: list[Block]) -> str:
    """The first sentence of the first paragraph (a command's one-line summary)."""
    for kind, _, text in doc:
        if kind != "pre":
            head, dot, _ = text.partition(". ")
            return head + "." if dot or not head.endswith(".") else head
    return ""
