"""Argparse errors in the AWS CLI 2.33 layout, byte for byte (aws-cli-behaviour.md §8).

The comparison tests check the same cases against Debian's 2.9.19, converted to 2.33's layout
(conftest.as_cks); these pin the layout itself, so a wrong conversion cannot hide a wrong cks.
"""

from __future__ import annotations

from typing import Any

import pytest

D = "describe-custom-key-stores"
USAGE = (
    b"usage: cks [options] <command> <subcommand> [<subcommand> ...] [parameters]\n"
    b"To see help text, you can run:\n\n"
    b"  cks help\n  cks <command> help\n  cks <command> <subcommand> help\n"
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([D, "--page-size", "abc"], b"argument --page-size: invalid int value: 'abc'"),
        ([D, "--output", "xml"], b"argument --output: Found invalid choice 'xml'\n"),
        ([D, "--color", "sometimes"], b"argument --color: Found invalid choice 'sometimes'\n"),
        (
            [D, "--generate-cli-skeleton", "xml"],
            b"argument --generate-cli-skeleton: Found invalid choice 'xml'\n",
        ),
        (
            [D, "--cli-binary-format", "hex"],
            b"argument --cli-binary-format: Found invalid choice 'hex'\n",
        ),
        (
            ["describe-custom-key-store"],
            b"argument operation: Found invalid choice 'describe-custom-key-store'\n\n"
            b"Maybe you meant:\n\n  * describe-custom-key-stores\n  * delete-custom-key-store\n"
            b"  * create-custom-key-store",
        ),
        (
            ["connect-custom-key-store"],
            b"the following arguments are required: --custom-key-store-id",
        ),
    ],
    ids=lambda value: value if isinstance(value, bytes) else " ".join(value),
)
def test_argparse_errors_put_the_message_first(cks: Any, args: list[str], message: bytes) -> None:
    result = cks([*args, "--endpoint-url", "http://127.0.0.1:9"])
    assert result.rc == 252 and result.stdout == b""
    assert result.stderr == b"\ncks: [ERROR]: " + message + b"\n\n" + USAGE + b"\n"
    assert b"valid choices are" not in result.stderr


def test_unknown_options_keep_their_layout(cks: Any) -> None:
    result = cks([D, "--endpoint-url", "http://127.0.0.1:9", "--foo", "bar"])
    assert result.rc == 252
    assert result.stderr == b"\n" + USAGE + b"\nUnknown options: --foo, bar\n\n"


@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [
        ("--tags", "oops", b" oops\n    ^"),
        ("--tags", "TagKey=a,TagValue=b oops", b" oops\n    ^"),
        ("--encryption-context", "purpose", b" purpose\n       ^"),
    ],
)
def test_shorthand_syntax_errors_indent_the_input_like_2_33(
    cks: Any, option: str, value: str, shown: bytes
) -> None:
    # Checked against aws-cli 2.33.31: `for input:\n %s` puts one space before the input but
    # not before the caret (2.9.19 prints no space).
    command = "create-key" if option == "--tags" else "encrypt"
    extra = [] if command == "create-key" else ["--key-id", "k", "--plaintext", "aGk="]
    result = cks([command, "--endpoint-url", "http://127.0.0.1:9", *extra, option, *value.split()])
    assert result.rc == 252 and result.stdout == b""
    assert result.stderr == (
        b"\nError parsing parameter '" + option.encode() + b"': Expected: '=', received: 'EOF' "
        b"for input:\n" + shown + b"\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([D, "--profile"], b"argument --profile: expected one argument"),
        ([D, "--debug=1"], b"argument --debug: ignored explicit argument '1'"),
        (["help", "--profile"], b"argument --profile: expected one argument"),
    ],
)
def test_first_pass_errors_have_its_short_usage(cks: Any, args: list[str], message: bytes) -> None:
    # aws-cli 2.33.31 parses --profile and --debug first (FirstPassGlobalArgParser), before
    # the command line is known; its errors end with that parser's usage line.
    result = cks(args)
    assert (result.rc, result.stdout) == (252, b"")
    assert result.stderr == (
        b"\ncks: [ERROR]: " + message + b"\n\nusage: cks [--profile PROFILE] [--debug]\n\n"
    )
