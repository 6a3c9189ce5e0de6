"""`cks kms help` and `cks kms <command> help`: reference pages laid out like `aws ... help`.

Layer: cli (help only; never imported on a normal run). A command's page has NAME, DESCRIPTION
(the operation's full documentation), SYNOPSIS, OPTIONS (each with its full documentation,
type, constraints and values), GLOBAL OPTIONS, EXAMPLES (help_examples.py) and OUTPUT (every
response member), built from help.json (helpgen.py, from botocore's model), wrapped to the
terminal width and, on a terminal, shown through $MANPAGER/$PAGER (else `less -R`) like aws.
Options awscli hides (the raw --limit/--marker of paginated commands) are hidden here too.
Must not import server code or botocore.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

from kmscks.cli import help_examples, spec
from kmscks.cli.helpdoc import Block, first_sentence, render

TEXT = 7  # a section's text starts here, as in awscli's man pages
DEEPER = 3

# awscli's global options (awscli/data/cli.json), with their type and the values they take.
GLOBAL_OPTIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("--debug", "boolean", "Turn on debug logging.", ()),
    ("--endpoint-url", "string", "Override command's default URL with the given URL.", ()),
    (
        "--no-verify-ssl",
        "boolean",
        "By default, cks uses SSL when communicating with an https endpoint and verifies its "
        "certificate. This option turns that verification off.",
        (),
    ),
    ("--no-paginate", "boolean", "Disable automatic pagination.", ()),
    (
        "--output",
        "string",
        "The formatting style for command output.",
        ("json", "text", "table", "yaml", "yaml-stream"),
    ),
    ("--query", "string", "A JMESPath query to use in filtering the response data.", ()),
    ("--profile", "string", "Use a specific profile from your credential file.", ()),
    ("--region", "string", "The region to use. Overrides config/env settings.", ()),
    ("--version", "string", "Display the version of this tool.", ()),
    ("--color", "string", "Turn on/off color output.", ("on", "off", "auto")),
    (
        "--no-sign-request",
        "boolean",
        "Do not sign requests. Credentials will not be loaded if this argument is provided.",
        (),
    ),
    (
        "--ca-bundle",
        "string",
        "The CA certificate bundle to use when verifying SSL certificates. Overrides "
        "config/env settings.",
        (),
    ),
    (
        "--cli-read-timeout",
        "int",
        "The maximum socket read time in seconds. 0 means blocking, no timeout. The default "
        "is 60 seconds.",
        (),
    ),
    (
        "--cli-connect-timeout",
        "int",
        "The maximum socket connect time in seconds. 0 means blocking, no timeout. The "
        "default is 60 seconds.",
        (),
    ),
    (
        "--cli-binary-format",
        "string",
        "The formatting style for binary blobs. base64 (the default) expects binary values as "
        "base64-encoded text; raw-in-base64-out takes them literally, as the AWS CLI v1 did. "
        "fileb:// always reads a file's bytes as they are.",
        ("base64", "raw-in-base64-out"),
    ),
    ("--no-cli-pager", "boolean", "Disable cli pager for output.", ()),
    ("--cli-auto-prompt", "boolean", "Automatically prompt for CLI input parameters.", ()),
    (
        "--no-cli-auto-prompt",
        "boolean",
        "Disable automatically prompt for CLI input parameters.",
        (),
    ),
)

_CLI_INPUT = (
    "Reads arguments from the JSON string provided. The JSON string follows the format provided "
    "by --generate-cli-skeleton. If other arguments are provided on the command line, those "
    "values will override the JSON-provided values. It is not possible to pass arbitrary binary "
    "values using a JSON-provided value as the string will be taken literally. This may not be "
    "specified along with --cli-input-yaml."
)
_SKELETON = (
    "Prints a JSON skeleton to standard output without sending an API request. If provided with "
    "no value or the value input, prints a sample input JSON that can be used as an argument "
    "for --cli-input-json. Similarly, if provided yaml-input it will print a sample input YAML "
    "that can be used with --cli-input-yaml. If provided with the value output, it validates "
    "the command inputs and returns a sample output JSON for that command."
)
_PAGING = (
    (
        "--starting-token",
        "string",
        "A token to specify where to start paginating. This is the NextToken from a previously "
        "truncated response.",
    ),
    (
        "--page-size",
        "integer",
        "The size of each page to get in the AWS service call. This does not affect the number "
        "of items returned in the command's output. A smaller page size makes more calls, each "
        "returning fewer items.",
    ),
    (
        "--max-items",
        "integer",
        "The total number of items to return in the command's output. If more items are "
        "available, a NextToken is provided in the output; pass it to --starting-token to "
        "resume.",
    ),
)
_WATCH = (
    (
        "--watch",
        "boolean",
        "Poll the key stores and print one line per store, then one per state transition (with "
        "the ConnectionErrorCode when a store turns FAILED), until Ctrl-C (exit 130).",
    ),
    ("--watch-interval", "float", "Seconds between polls with --watch (default 2)."),
    (
        "--until-state",
        "string",
        "With --watch, stop (exit 0) once every watched store is in this connection state. "
        "Without --watch it is an error (exit 252).",
    ),
)


@cache
def reference() -> dict[str, Any]:
    path = Path(__file__).with_name("help.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((80, 24)).columns - 1


def _para(text: str, indent: int, width: int) -> list[str]:
    return render([["p", 0, text]], indent, width)


def _doc(doc: list[Block], indent: int, width: int) -> list[str]:
    return render(doc, indent, width)


def _hidden(command: dict[str, Any]) -> set[str]:
    paginator = command["paginator"]
    return {paginator["input_token"], paginator["limit_key"]} if paginator else set()


def _option_name(option: dict[str, Any]) -> str:
    if option["type"] == "boolean":
        return f"--{option['option']} | --no-{option['option']}"
    return f"--{option['option']}"


def _member_lines(member: dict[str, Any], indent: int, width: int) -> list[str]:
    """A member's documentation, constraints, values and nested members (OPTIONS and OUTPUT)."""
    lines: list[str] = []
    if member.get("doc"):
        lines += _doc(member["doc"], indent, width)
    if member.get("constraints"):
        lines += ["", *_para(f"Constraints: {member['constraints']}", indent, width)]
    if member.get("enum"):
        lines += ["", " " * indent + "Possible values:", ""]
        lines += [" " * indent + "o " + value for value in member["enum"]]
    for nested in _nested(member):
        lines += ["", *_shape_lines(nested, indent, width)]
    return lines


def _nested(member: dict[str, Any]) -> list[dict[str, Any]]:
    if "members" in member:
        return list(member["members"])
    if "member" in member:
        return [member["member"]]
    if "value" in member:
        return [{**member["key"], "name": "key"}, {**member["value"], "name": "value"}]
    return []


def _shape_lines(member: dict[str, Any], indent: int, width: int) -> list[str]:
    required = " [required]" if member.get("required") else ""
    title = (
        f"{member['name']} -> ({member['type']}){required}"
        if member["name"]
        else (f"({member['type']})")
    )
    return [" " * indent + title, *_member_lines(member, indent + DEEPER, width)]


def _section(title: str, lines: list[str]) -> list[str]:
    return [title, *lines, ""]


def operation_help(command: str) -> str:
    if command == "explain-connection-error":
        return (
            "usage: cks kms explain-connection-error CODE | --all | --custom-key-store-id ID\n\n"
            "Explains a ConnectionErrorCode (shown for FAILED custom key stores) and how to\n"
            "remediate it. With --custom-key-store-id, asks the server for the store's last\n"
            "connection attempts and what each found (the concrete cause), and the fix to try.\n"
            "Codes: " + ", ".join(spec.connection_error_codes()) + "\n"
        )
    width = _width()
    page = reference()["commands"][command]
    hidden = _hidden(page)
    options = [option for option in page["options"] if option["name"] not in hidden]
    margin = " " * TEXT
    out = _section("NAME", _para(f"{command} - {first_sentence(page['doc'])}", TEXT, width))

    description = _doc(page["doc"], TEXT, width)
    if page["paginator"]:
        description += [
            "",
            *_para(
                f"{command} is a paginated operation. Multiple API calls may be issued in order "
                "to retrieve the entire data set of results. You can disable pagination by "
                "providing the --no-paginate argument. When using --output text and the --query "
                "argument on a paginated response, the --query argument must extract data from "
                "the results of the following query expressions: "
                f"{page['paginator']['result_key']}",
                TEXT,
                width,
            ),
        ]
    if command not in spec.operation_names():
        description += [
            "",
            *_para(
                "Note: cks does not run this command yet; this page describes it as the AWS "
                "CLI runs it.",
                TEXT,
                width,
            ),
        ]
    out += _section("DESCRIPTION", description)

    # awscli's layout: the command at column 12, options at 10, optional ones in brackets.
    indent = " " * (TEXT + DEEPER)
    synopsis = [f"{margin}     {command}"]
    for option in options:
        usage = _option_name(option)
        if option["type"] != "boolean":
            usage += " <value>"
        synopsis.append(f"{indent}{usage}" if option.get("required") else f"{indent}[{usage}]")
    synopsis.append(f"{indent}[--cli-input-json | --cli-input-yaml]")
    if page["paginator"]:
        synopsis += [f"{indent}[{name} <value>]" for name, _, _ in _PAGING]
    synopsis.append(f"{indent}[--generate-cli-skeleton <value>]")
    for name, kind, _, _ in GLOBAL_OPTIONS:
        synopsis.append(f"{indent}[{name}]" if kind == "boolean" else f"{indent}[{name} <value>]")
    out += _section("SYNOPSIS", synopsis)

    deeper = TEXT + DEEPER
    lines: list[str] = []
    for option in options:
        required = " [required]" if option.get("required") else ""
        lines += [f"{margin}{_option_name(option)} ({option['type']}){required}"]
        lines += _member_lines(option, deeper, width)
        if option.get("shorthand"):
            lines += ["", f"{margin}Shorthand Syntax:", "", f"{margin}   {option['shorthand']}"]
        if option.get("json"):
            lines += ["", f"{margin}JSON Syntax:", ""]
            lines += [f"{margin}   {row}" for row in option["json"].splitlines()]
        lines.append("")
    lines += [f"{margin}--cli-input-json | --cli-input-yaml (string)"]
    lines += [*_para(_CLI_INPUT, deeper, width), ""]
    if page["paginator"]:
        for name, kind, text in _PAGING:
            lines += [f"{margin}{name} ({kind})", *_para(text, deeper, width), ""]
    lines += [f"{margin}--generate-cli-skeleton (string)", *_para(_SKELETON, deeper, width)]
    out += _section("OPTIONS", lines)

    if command == "describe-custom-key-stores":
        extra: list[str] = _para(
            "cks additions; without them the command prints exactly what aws prints.", TEXT, width
        )
        for name, kind, text in _WATCH:
            extra += ["", f"{margin}{name} ({kind})", *_para(text, deeper, width)]
        out += _section("CKS OPTIONS", extra)

    global_lines: list[str] = []
    for name, kind, text, values in GLOBAL_OPTIONS:
        global_lines += [f"{margin}{name} ({kind})", "", *_para(text, TEXT, width), ""]
        for value in values:
            global_lines += [f"{margin}o {value}", ""]
    out += _section("GLOBAL OPTIONS", global_lines[:-1])
    out += _section("EXAMPLES", _examples(command, page, options, width))
    output = [
        line for member in page["output"] for line in ["", *_shape_lines(member, TEXT, width)]
    ]
    out += _section("OUTPUT", output[1:] if output else [f"{margin}None"])
    return "\n".join(out)


def _examples(
    command: str, page: dict[str, Any], options: list[dict[str, Any]], width: int
) -> list[str]:
    margin = " " * TEXT
    lines = [f"{margin}NOTE:", *_para(help_examples.NOTE, TEXT + DEEPER, width)]
    examples = help_examples.EXAMPLES.get(command)
    if examples is None:
        # Built from the model: the required options, with the member name as placeholder.
        required = [
            f"--{option['option']} <{option['name']}>"
            for option in options
            if option.get("required")
        ]
        line = " ".join([f"cks kms {command} {help_examples.E}", *required])
        explanation = f"Calls {page['name']}"
        if required:
            explanation += "; replace each <Value> with your own"
        examples = [(f"To call {page['name']}", explanation + ".", line)]
    for number, (title, text, commands) in enumerate(examples, 1):
        lines += ["", *_para(f"Example {number}: {title}", TEXT, width)]
        lines += ["", *_para(text, TEXT, width), ""]
        lines += [f"{margin}   {row}" for row in commands.splitlines()]
    return lines


def service_help() -> str:
    width = _width()
    margin = " " * TEXT
    data = reference()
    runs = set(spec.operation_names())
    out = _section("NAME", [f"{margin}kms -"])
    description = _doc(data["service"]["doc"], TEXT, width)
    description += [
        "",
        *_para(
            "cks kms runs the commands marked * below against a cks server, with the AWS CLI's "
            "options, output and exit codes; `cks kms <command> help` prints any command's "
            "reference page.",
            TEXT,
            width,
        ),
    ]
    out += _section("DESCRIPTION", description)
    out += _section("SYNOPSIS", [f"{margin}cks kms <command> [options and parameters]"])
    commands: list[str] = []
    for name in [*data["commands"], "explain-connection-error"]:
        mark = " *" if name in runs or name == "explain-connection-error" else ""
        commands += [f"{margin}o {name}{mark}", ""]
    out += _section("AVAILABLE COMMANDS", commands[:-1])
    return "\n".join(out)


def show(text: str) -> None:
    """The page on stdout: through the pager on a terminal (like `aws ... help`), else plain."""
    if not sys.stdout.isatty():
        sys.stdout.write(text)
        return
    import shlex
    import subprocess

    command = os.environ.get("MANPAGER") or os.environ.get("PAGER") or "less -R"
    try:
        pager = subprocess.Popen(shlex.split(command), stdin=subprocess.PIPE, text=True)
    except OSError:
        sys.stdout.write(text)
        return
    assert pager.stdin is not None
    try:
        pager.stdin.write(text)
        pager.stdin.close()
    except BrokenPipeError:
        pass  # the reader quit early
    pager.wait()
