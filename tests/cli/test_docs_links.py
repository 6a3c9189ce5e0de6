"""README.md and docs/*.md stand on their own: every link and path they name is in the repository.

Markdown links must point inside the repository (to a file that exists) or to a URL; relative
paths in the text (`../…`, read from the repository's root) must not climb out of it;
repository paths in code spans (`docs/…`, `src/…`, `tests/…`, `bench/…`) must exist; and
nothing may name the team's working files (`shared/contract`, `/work/`), which users do not
have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_PARENT = re.compile(r"(?<![.\w])\.\./[\w./-]*")
_CODE_PATH = re.compile(r"`((?:docs|src|tests|bench)/[\w./-]*)`")
_PRIVATE = re.compile(r"shared/contract|/work/|/briefs/")


def _inside(path: Path) -> bool:
    return path.resolve().is_relative_to(REPO)


def problems(document: Path, text: str) -> list[str]:
    """Every link or path in `text` that leads outside the repository, or to nothing."""
    found = []
    base = document.parent
    for target in _LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor on this page
        path = base / target.split("#", 1)[0]
        if not _inside(path) or not path.exists():
            found.append(f"link ({target}) is not a file of the repository")
    # Outside links, a path in the text is read from the repository's root, as the docs write
    # them (`docs/cli.md`); from the root, `../` always leaves the repository.
    for relative in _PARENT.findall(_LINK.sub("]()", text)):
        found.append(f"path {relative} is outside the repository")
    for named in _CODE_PATH.findall(text):
        if not (REPO / named.rstrip(".")).exists():
            found.append(f"path `{named}` does not exist in the repository")
    found += [f"names a private path ({match})" for match in _PRIVATE.findall(text)]
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_document_stands_on_its_own(document: Path) -> None:
    assert problems(document, document.read_text(encoding="utf-8")) == []


def test_the_checker_catches_outside_links() -> None:
    page = REPO / "docs" / "cli.md"
    bad = (
        "See [the contract](../shared/contract/aws-cli-behaviour.md), "
        "`../../etc/passwd`, [gone](nothing-here.md), `docs/no-such-page.md` and /work/main.\n"
        "Fine: [arch](architecture.md), [web](https://example.com), [top](#top), "
        "`.../keys/{id}/encrypt`, `docs/cli.md`."
    )
    assert len(problems(page, bad)) == 6
