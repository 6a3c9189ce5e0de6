"""Command-line parsing the way awscli v2 does it: global options, then the operation's options.

Layer: cli. awscli builds its parsers on argparse (so abbreviations, `--opt=value` and the error
texts follow argparse); this module does the same with the options derived from the model
(spec.py), the pagination options (`--starting-token`, `--page-size`, `--max-items`, with the raw
`--limit`/`--marker` kept but hidden), `--cli-input-json|yaml` and `--generate-cli-skeleton`.
Must not import botocore, yaml, jmespath or server code.
"""

from __future__ import annotations

import argparse
import os
import sys
from difflib import get_close_matches
from typing import Any, NoReturn

from kmscks.cli import shorthand, spec
from kmscks.cli.errors import (
    PROG,
    USAGE,
    ArgParseError,
    ParamError,
    ResourceLoadingError,
    UnknownArgumentError,
)

OUTPUT_CHOICES = ["json", "text", "table", "yaml", "yaml-stream"]
SKELETON_CHOICES = ["input", "output", "yaml-input"]
# Commands cks adds beside the six operations; they never change an operation's output.
EXTRA_COMMANDS = ["explain-connection-error"]
CONNECTION_STATES = ["CONNECTED", "CONNECTING", "FAILED", "DISCONNECTED", "DISCONNECTING"]


class VersionAction(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        from kmscks import version_string

        sys.stdout.write(version_string() + "\n")
        raise SystemExit(0)


class CLIArgParser(argparse.ArgumentParser):
    """argparse with the AWS CLI 2.33 error layout (exit 252): the message first, prefixed
    `cks: [ERROR]: `, then the usage block; an invalid choice is named, not listed
    (awscli/argparser.py at 2.33.31; 2.9.19 printed the usage first and every valid choice)."""

    def __init__(self, usage: str | None = USAGE, **kwargs: Any) -> None:
        super().__init__(
            prog=PROG,
            usage=usage,
            add_help=False,
            conflict_handler="resolve",
            formatter_class=argparse.RawTextHelpFormatter,
            **kwargs,
        )

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is None or value in choices:
            return
        lines = [f"Found invalid choice '{value}'\n"]
        possible = get_close_matches(value, list(choices), cutoff=0.8)
        if possible:
            lines.append("Maybe you meant:\n")
            lines.extend(f"  * {word}" for word in possible)
        raise argparse.ArgumentError(action, "\n".join(lines))

    def error(self, message: str) -> NoReturn:
        raise ArgParseError(f"{self.prog}: [ERROR]: {message}\n\n{self.format_usage()}")


def first_pass(argv: list[str]) -> None:
    """awscli's FirstPassGlobalArgParser (create_clidriver, before anything else): --profile
    and --debug are parsed first, so their errors (`--profile` without a value, `--debug=x`)
    carry that parser's own usage line, `usage: cks [--profile PROFILE] [--debug]`."""
    parser = CLIArgParser(usage=None)
    parser.add_argument("--profile", type=str)
    parser.add_argument("--debug", action="store_true", default=False)
    parser.parse_known_args(argv)


def global_parser() -> CLIArgParser:
    """awscli's main parser: the global options (awscli/data/cli.json) and the command."""
    parser = CLIArgParser()
    add = parser.add_argument
    add("--debug", action="store_true")
    add("--endpoint-url")
    add("--no-verify-ssl", action="store_false", dest="verify_ssl")
    add("--no-paginate", action="store_false", dest="paginate")
    add("--output", choices=OUTPUT_CHOICES)
    add("--query")
    add("--profile")
    add("--region")
    add("--version", action=VersionAction, nargs=0)
    add("--color", choices=["on", "off", "auto"], default="auto")
    add("--no-sign-request", action="store_false", dest="sign_request")
    add("--ca-bundle", dest="ca_bundle")
    # The timeouts are converted later with int(), so a bad value fails with Python's own
    # message and exit 255, as in the AWS CLI (aws-cli-behaviour.md §9).
    add("--cli-read-timeout", dest="read_timeout")
    add("--cli-connect-timeout", dest="connect_timeout")
    add("--cli-binary-format", choices=["base64", "raw-in-base64-out"])
    add("--no-cli-pager", action="store_true")
    add("--cli-auto-prompt", action="store_true")
    add("--no-cli-auto-prompt", action="store_true")
    add("command", choices=["kms"])
    return parser


def service_parser() -> CLIArgParser:
    """awscli's service parser: every KMS command and `help` are valid choices, so a typo gets
    the AWS CLI's list and "maybe you meant" hints."""
    parser = CLIArgParser()
    parser.add_argument("operation", choices=[*spec.service_commands(), "help"])
    return parser


def _overrides_required(argv: list[str]) -> bool:
    # awscli looks for the literal option names in argv (OverrideRequiredArgsArgument).
    if "--cli-input-json" in argv or "--cli-input-yaml" in argv:
        return True
    if "--generate-cli-skeleton" in argv:
        at = argv.index("--generate-cli-skeleton")
        return argv[at + 1 : at + 2] != ["output"]
    return False


def operation_parser(command: str, argv: list[str]) -> CLIArgParser:
    operation = spec.operation(command)
    parser = CLIArgParser()
    required = set(operation["input"]["required"]) if not _overrides_required(argv) else set()
    for option, member in operation["options"].items():
        shape = spec.members(operation["input"])[member]
        dest = option_dest(option)
        if shape["type"] == "boolean":
            # awscli's BooleanArgument: `--foo` and `--no-foo` share one destination, and
            # neither sends anything unless given.
            parser.add_argument(f"--{option}", dest=dest, action="store_true", default=None)
            parser.add_argument(f"--no-{option}", dest=dest, action="store_false", default=None)
            continue
        # awscli v2's CLIArgument.TYPE_MAP: only `long` is converted by argparse; an
        # `integer` is converted later with int(), so `--limit abc` fails with Python's own
        # message and exit 255 (like `--cli-read-timeout abc`), not an argparse error.
        kind = int if shape["type"] == "long" else str
        parser.add_argument(
            f"--{option}",
            dest=dest,
            type=kind,
            required=member in required,
            # awscli's ListArgument takes any number of values (`--grant-tokens a b`).
            nargs="*" if shape["type"] == "list" else None,
        )
    parser.add_argument("--cli-input-json", dest="cli_input_json")
    parser.add_argument("--cli-input-yaml", dest="cli_input_yaml")
    if operation["paginator"]:
        parser.add_argument("--starting-token", dest="starting_token")
        parser.add_argument("--page-size", dest="page_size", type=int)
        parser.add_argument("--max-items", dest="max_items", type=int)
    parser.add_argument(
        "--generate-cli-skeleton", nargs="?", const="input", choices=SKELETON_CHOICES
    )
    if command == "describe-custom-key-stores":
        # cks-only and opt-in: without --watch the output is exactly the AWS CLI's.
        parser.add_argument("--watch", action="store_true")
        parser.add_argument("--watch-interval", type=float)
        parser.add_argument("--until-state", choices=CONNECTION_STATES)
    parser.add_argument("help", nargs="?")
    return parser


def option_dest(option: str) -> str:
    """The argparse attribute of a model member's option (prefixed: no clash with globals)."""
    return "member_" + option.replace("-", "_")


def parse_operation(command: str, argv: list[str]) -> argparse.Namespace:
    """Parse an operation's own options; leftovers are awscli's "Unknown options" error."""
    parsed, remaining = operation_parser(command, argv).parse_known_args(argv)
    if parsed.help and parsed.help != "help":
        remaining.append(parsed.help)
    if remaining:
        raise UnknownArgumentError("Unknown options: " + ", ".join(remaining))
    return parsed


def _is_paramfile(value: str) -> bool:
    return value.startswith(("file://", "fileb://"))


def load_paramfile(name: str, value: str) -> Any:
    """awscli's `file://` (text) and `fileb://` (bytes) parameter values; v2 dropped
    http(s):// fetching. Bytes for a string member fail validation, as in aws."""
    try:
        return read_paramfile(value)
    except ResourceLoadingError as error:
        raise ParamError(name, str(error))


def read_paramfile(value: str) -> Any:
    """awscli's get_paramfile with LOCAL_PREFIX_MAP: the file's text or bytes, or the value
    itself when it names no file; ResourceLoadingError when the file cannot be read."""
    for prefix in ("file://", "fileb://"):
        if value.startswith(prefix):
            path = os.path.expandvars(os.path.expanduser(value[len(prefix) :]))
            try:
                if prefix == "fileb://":
                    with open(path, "rb") as binary:
                        return binary.read()
                with open(path, encoding=_file_encoding()) as text:
                    return text.read()
            except UnicodeDecodeError:
                raise ResourceLoadingError(
                    f"Unable to load paramfile ({path}), text contents could not be decoded.  "
                    "If this is a binary file, please use the fileb:// prefix instead of the "
                    "file:// prefix."
                )
            except OSError as error:
                raise ResourceLoadingError(f"Unable to load paramfile {value}: {error}")
    return value


def _file_encoding() -> str:
    """awscli's compat.getpreferredencoding for `file://`: AWS_CLI_FILE_ENCODING when set, UTF-8
    in the C/POSIX locale, else the locale's preferred encoding."""
    if "AWS_CLI_FILE_ENCODING" in os.environ:
        return os.environ["AWS_CLI_FILE_ENCODING"]
    import locale

    if locale.setlocale(locale.LC_CTYPE) in ("C", "POSIX"):
        return "UTF-8"
    return locale.getpreferredencoding()


def _json_value(option: str, value: str) -> Any:
    import json

    try:
        return json.loads(value)
    except ValueError as error:
        raise ParamError(f"--{option}", f"Invalid JSON: {error}\nJSON received: {value}")


def _is_complex(shape: spec.Shape) -> bool:
    # awscli's _supports_shorthand_syntax: structures, maps and lists of those.
    kind = shape["type"]
    if kind == "list":
        return bool(shape["member"]["type"] in ("structure", "list", "map"))
    return kind in ("structure", "map")


def _unpack(option: str, shape: spec.Shape, value: Any) -> Any:
    """awscli's unpack_cli_arg, after its shorthand hook: a value as the model wants it."""
    first = value[0] if isinstance(value, list) and value else value
    looks_like_json = isinstance(first, str) and first.strip().startswith(("[", "{"))
    if _is_complex(shape) and not looks_like_json:
        try:
            return shorthand.parse(value, shape)
        except shorthand.ShorthandParseError as error:
            raise ParamError(f"--{option}", str(error))
    return _unpack_plain(option, shape, value)


def _unpack_plain(option: str, shape: spec.Shape, value: Any) -> Any:
    kind = shape["type"]
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("structure", "map"):
        if value.lstrip()[0] == "{":
            return _json_value(option, value)
        raise ParamError(f"--{option}", f"Invalid JSON:\n{value}")
    if kind == "list":
        if isinstance(value, str) and value.lstrip()[0] == "[":
            return _json_value(option, value)
        if isinstance(value, list) and len(value) == 1:
            single = value[0].strip()
            if single and single[0] == "[":
                return _json_value(option, value[0])
        # A list of scalars (`--grant-tokens a b`), or of JSON documents, one per value.
        return [_unpack_plain(option, shape["member"], item) for item in value]
    return value


def call_parameters(command: str, parsed: argparse.Namespace) -> dict[str, Any]:
    """The operation's parameters from its options, in model order (as awscli builds them)."""
    operation = spec.operation(command)
    shapes = spec.members(operation["input"])
    params: dict[str, Any] = {}
    for option, member in operation["options"].items():
        value = getattr(parsed, option_dest(option))
        if value is None:
            continue
        if isinstance(value, bool):  # --foo / --no-foo: nothing to load or unpack
            params[member] = value
            continue
        if isinstance(value, list) and len(value) == 1 and _is_paramfile(value[0]):
            # awscli's URIArgumentHandler loads a list option's single value as a file.
            value = value[0]
        if isinstance(value, str):
            value = load_paramfile(f"--{option}", value)
        params[member] = _unpack(option, shapes[member], value)
    for name in ("cli_input_json", "cli_input_yaml", "starting_token"):
        # awscli runs every option value through the file:// loader once, before the
        # cli-input customisation reads the file a second time (the /dev/stdin quirk).
        value = getattr(parsed, name, None)
        if isinstance(value, str):
            loaded = load_paramfile("--" + name.replace("_", "-"), value)
            if name == "starting_token":
                parsed.starting_token = loaded
    return params


def merge_cli_input(parsed: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    """Apply --cli-input-json/--cli-input-yaml: explicit options win over the input's keys."""
    # awscli tests `is not None`: an empty `--cli-input-json ''` is given (and invalid).
    names = ("cli_input_json", "cli_input_yaml")
    given = [name for name in names if getattr(parsed, name) is not None]
    if not given:
        return params
    from kmscks.cli.errors import ParamValidationError

    if len(given) != 1:
        raise ParamValidationError("Only one --cli-input- parameter may be specified.")
    name = given[0]
    raw = load_paramfile("--" + name.replace("_", "-"), getattr(parsed, name))
    loaded: Any
    if name == "cli_input_json":
        import json

        try:
            loaded = json.loads(raw)
        except ValueError:
            raise ParamError("cli-input-json", "Invalid JSON received.")
    else:
        from ruamel.yaml import YAML, YAMLError

        try:
            loaded = YAML(typ="safe", pure=True).load(raw)
        except YAMLError:
            raise ParamError("cli-input-yaml", "Invalid YAML received.")
    if not isinstance(loaded, dict):
        raise ParamError(
            "--" + name.replace("_", "-"),
            f"Invalid type: expecting map, received {type(loaded)}",
        )
    merged = dict(params)
    for key, value in loaded.items():
        if key not in merged:
            merged[key] = value
    return merged
