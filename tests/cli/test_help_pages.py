"""`cks kms <command> help` is the command's reference page, like `aws kms <command> help`.

The six store commands are compared with Debian's `aws ... help` (MANPAGER=cat, given the same
model through ~/.aws/models), section by section: the same sections (cks adds CKS OPTIONS to
describe-custom-key-stores), the same options and global options, each described with the full
text of the model cks ships, and the same OUTPUT members. Every other KMS command gets a page
from the model too, and help.json must match the installed botocore.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest

from kmscks.cli import helpdoc, helpgen, spec
from kmscks.cli.help_examples import EXAMPLES
from tests.cli.conftest import AWS, base_env

STORE_COMMANDS = [
    "describe-custom-key-stores",
    "create-custom-key-store",
    "update-custom-key-store",
    "connect-custom-key-store",
    "disconnect-custom-key-store",
    "delete-custom-key-store",
]
_OVERSTRIKE = re.compile(r".\x08")
_HEADER = re.compile(r"^([A-Z][A-Z ]+[A-Z])$", re.M)
_OPTION = re.compile(r"^ {7}(--[\w-]+(?: +\| +--[\w-]+)?) +\(", re.M)
_MEMBER = re.compile(r"^ +(\w+) -> \((\w+)\)", re.M)


def sections(page: str) -> dict[str, str]:
    """Each section's text, by title, in page order."""
    found = list(_HEADER.finditer(page))
    return {
        match.group(1): page[match.end() : found[i + 1].start() if i + 1 < len(found) else None]
        for i, match in enumerate(found)
    }


def options(section: str) -> list[str]:
    return [" ".join(option.split()) for option in _OPTION.findall(section)]


def described(section: str) -> dict[str, str]:
    """Each option's text (everything up to the next option), whitespace collapsed."""
    starts = list(_OPTION.finditer(section))
    texts = {}
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else None
        body = section[match.end() : end]
        texts[" ".join(match.group(1).split())] = " ".join(body.split())
    return texts


@pytest.fixture(scope="module")
def aws_pages(aws_cli: str, cli_home: Path) -> dict[str, str]:
    env = base_env(cli_home, MANPAGER="cat", PAGER="cat")
    pages = {}
    for command in STORE_COMMANDS:
        done = subprocess.run(
            [AWS, "kms", command, "help"], env=env, capture_output=True, timeout=120, check=True
        )
        pages[command] = _OVERSTRIKE.sub("", done.stdout.decode())
    return pages


def _wrappable(line: str) -> bool:
    """Prose, not an example command or an unbreakable pattern."""
    return len(line.split()) >= 3 and "cks " not in line and not line.endswith("\\")


def _cks_page(cks: Any, *args: str) -> str:
    result = cks([*args])
    assert result.rc == 0 and result.stderr == b""
    return str(result.stdout.decode())


@pytest.mark.parametrize("command", STORE_COMMANDS)
def test_store_command_pages_match_aws_section_by_section(
    command: str, cks: Any, aws_pages: dict[str, str]
) -> None:
    aws = sections(aws_pages[command])
    ours = sections(_cks_page(cks, command, "help"))
    extra = ["CKS OPTIONS"] if command == "describe-custom-key-stores" else []
    assert [title for title in ours if title not in extra] == list(aws)

    assert ours["SYNOPSIS"] == aws["SYNOPSIS"]
    assert options(ours["OPTIONS"]) == options(aws["OPTIONS"])
    assert options(ours["GLOBAL OPTIONS"]) == options(aws["GLOBAL OPTIONS"])
    for option, text in [
        *described(ours["OPTIONS"]).items(),
        *described(ours["GLOBAL OPTIONS"]).items(),
    ]:
        assert len(text) > 20, f"{option} is not described"
    assert _MEMBER.findall(ours["OUTPUT"]) == _MEMBER.findall(aws["OUTPUT"])
    assert ours["EXAMPLES"].count("cks kms ") >= 1 and "aws kms" not in ours["EXAMPLES"]


@pytest.mark.parametrize("command", STORE_COMMANDS)
def test_options_carry_the_full_model_documentation(command: str, cks: Any) -> None:
    model = botocore.session.get_session().get_service_model("kms")
    operation = model.operation_model(spec.operation(command)["name"])
    page = sections(_cks_page(cks, command, "help"))
    texts = described(page["OPTIONS"])
    flat = " ".join(page["DESCRIPTION"].split())
    for _, _, paragraph in helpdoc.blocks(operation.documentation):
        assert " ".join(paragraph.split()) in flat
    hidden = {"Limit", "Marker"} if spec.operation(command)["paginator"] else set()
    for member, shape in operation.input_shape.members.items():
        if member in hidden:
            continue
        text = texts[f"--{botocore.xform_name(member, '-')}"]
        for _, _, paragraph in helpdoc.blocks(shape.documentation):
            assert " ".join(paragraph.split()) in text, (member, paragraph)
        if getattr(shape, "enum", None):
            assert all(f"o {value}" in text for value in shape.enum)


@pytest.mark.parametrize("command", spec.service_commands())
def test_every_kms_command_has_a_reference_page(command: str, cks: Any) -> None:
    for form in (["help"], ["--help"]):
        page = sections(_cks_page(cks, command, *form))
        assert list(page)[:4] == ["NAME", "DESCRIPTION", "SYNOPSIS", "OPTIONS"]
        assert list(page)[-3:] == ["GLOBAL OPTIONS", "EXAMPLES", "OUTPUT"]
        assert f"cks kms {command} --endpoint-url" in page["EXAMPLES"]


def test_service_page_lists_every_command(cks: Any) -> None:
    page = sections(_cks_page(cks, "help"))
    assert list(page) == ["NAME", "DESCRIPTION", "SYNOPSIS", "AVAILABLE COMMANDS"]
    for command in spec.operation_names():
        assert f"o {command} *" in page["AVAILABLE COMMANDS"]
    assert all(f"o {command}" in page["AVAILABLE COMMANDS"] for command in spec.service_commands())


def test_pages_wrap_to_the_terminal_width(cks: Any) -> None:
    narrow = _cks_page(cks, "create-custom-key-store", "help")  # a pipe: 80 columns
    prose = [line for line in narrow.splitlines() if _wrappable(line)]
    assert max(len(line) for line in prose) <= 79


def test_cks_writes_examples_for_the_store_and_main_key_commands() -> None:
    for command in [
        *STORE_COMMANDS,
        "create-key",
        "encrypt",
        "decrypt",
        "describe-key",
        "list-keys",
    ]:
        assert EXAMPLES.get(command), command
        assert command in spec.service_commands()


def test_help_json_matches_the_installed_botocore_model() -> None:
    assert helpgen.OUTPUT_PATH.read_text(encoding="utf-8") == helpgen.render(), (
        "src/kmscks/cli/help.json is stale: run `python -m kmscks.cli.modelgen`"
    )


def test_help_is_not_loaded_on_a_normal_run() -> None:
    import sys

    # What importing cks adds: under `make test`, coverage's subprocess patch has already
    # imported modules of its own (textwrap among them) before cks is.
    code = (
        "import sys\nbefore = set(sys.modules)\n"
        "import kmscks.cli.main, kmscks.cli.invocation\n"
        "print([m for m in set(sys.modules) - before if m.startswith('kmscks.cli.help')"
        " or m == 'textwrap' or m == 'html.parser'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("columns", [60, 120])
def test_on_a_terminal_the_page_goes_through_the_pager_at_its_width(
    columns: int, tmp_path: Path
) -> None:
    from tests.cli.conftest import CKS
    from tests.cli.test_terminal import _run_on_terminal

    out = tmp_path / "page"
    env = base_env(tmp_path, MANPAGER=f"sh -c 'cat > {out}'")
    assert _run_on_terminal([*CKS, "create-custom-key-store", "help"], env, columns) == 0
    page = out.read_text()
    assert page.startswith("NAME\n")
    prose = [line for line in page.splitlines() if _wrappable(line)]
    assert columns - 12 <= max(len(line) for line in prose) <= columns - 1
