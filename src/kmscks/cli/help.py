"""Help text for `cks kms`, its operations and the extra commands, plus the version string.

Layer: cli. The AWS CLI renders man pages; cks prints a plain synopsis built from the model
(operations.json): each option with the first sentence of its documentation. Options the AWS
CLI hides (--limit, --marker on paginated operations) are hidden here too.
Must not import server code or botocore.
"""

from __future__ import annotations

from kmscks.cli import spec

GLOBAL_OPTIONS = (
    ("--debug", "Turn on debug logging."),
    ("--endpoint-url <value>", "Override command's default URL with the given URL."),
    ("--no-verify-ssl", "Do not verify SSL certificates."),
    ("--no-paginate", "Disable automatic pagination."),
    ("--output <value>", "json | text | table | yaml | yaml-stream"),
    ("--query <value>", "A JMESPath query to use in filtering the response data."),
    ("--profile <value>", "Use a specific profile from your credential file."),
    ("--region <value>", "The region to use. Overrides config/env settings."),
    ("--version", "Display the version of this tool."),
    ("--color <value>", "on | off | auto: turn on/off color output (table)."),
    ("--no-sign-request", "Do not sign requests."),
    ("--ca-bundle <value>", "The CA certificate bundle to use when verifying SSL certificates."),
    ("--cli-read-timeout <value>", "Socket read timeout in seconds (0 = blocking)."),
    ("--cli-connect-timeout <value>", "Socket connect timeout in seconds (0 = blocking)."),
    ("--cli-binary-format <value>", "base64 | raw-in-base64-out"),
    ("--no-cli-pager", "Disable cli pager for output."),
    ("--cli-auto-prompt", "Automatically prompt for CLI input parameters."),
    ("--no-cli-auto-prompt", "Disable automatically prompt for CLI input parameters."),
)


def service_help() -> str:
    lines = [
        "cks kms: AWS CLI compatible custom key store commands",
        "",
        "usage: cks kms <command> [options]",
        "",
        "commands:",
    ]
    for name in spec.operation_names():
        lines.append(f"  {name:<30} {spec.operation(name)['doc']}")
    lines.append(
        f"  {'explain-connection-error':<30} What a ConnectionErrorCode means and how to fix it."
    )
    lines += ["", "Run `cks kms <command> --help` for a command's options.", ""]
    return "\n".join(lines)


def _option_lines(name: str, text: str) -> list[str]:
    return [f"  {name}", f"      {text}"] if text else [f"  {name}"]


def operation_help(command: str) -> str:
    if command == "explain-connection-error":
        return (
            "usage: cks kms explain-connection-error CODE | --all\n\n"
            "Explains a ConnectionErrorCode (shown for FAILED custom key stores) and how to\n"
            "remediate it. Codes: " + ", ".join(spec.connection_error_codes()) + "\n"
        )
    operation = spec.operation(command)
    paginator = operation["paginator"]
    hidden = {paginator["input_token"], paginator["limit_key"]} if paginator else set()
    shapes = spec.members(operation["input"])
    required = set(operation["input"]["required"])
    lines = [f"{command}", "", f"  {operation['doc']}", "", "OPTIONS"]
    for option, member in operation["options"].items():
        if member in hidden:
            continue
        shape = shapes[member]
        kind = shape["type"]
        if kind == "structure":
            keys = ",".join(f"{name}=string" for name, _ in shape["members"])
            kind = f"structure: {keys} (shorthand) or JSON"
        suffix = " [required]" if member in required else ""
        doc = shape.get("doc", "")
        if shape.get("enum"):
            doc += " Possible values: " + ", ".join(shape["enum"]) + "."
        lines += _option_lines(f"--{option} <{kind}>{suffix}", doc)
    lines += _option_lines(
        "--cli-input-json | --cli-input-yaml <string>",
        "Reads arguments from the JSON/YAML string provided (or file://path).",
    )
    if paginator:
        lines += _option_lines(
            "--starting-token <string>",
            "A token to specify where to start paginating (a NextToken).",
        )
        lines += _option_lines(
            "--page-size <integer>", "The size of each page to get in the AWS service call."
        )
        lines += _option_lines(
            "--max-items <integer>", "The total number of items to return in the command's output."
        )
    lines += _option_lines(
        "--generate-cli-skeleton [input | yaml-input | output]",
        "Prints a skeleton without sending an API request.",
    )
    if command == "describe-custom-key-stores":
        lines += _option_lines(
            "--watch", "cks only: poll and print state transitions until interrupted."
        )
        lines += _option_lines(
            "--watch-interval <seconds>", "cks only: seconds between polls (default 2)."
        )
        lines += _option_lines(
            "--until-state <state>",
            "cks only: with --watch, stop once every store is in this state.",
        )
    lines += ["", "GLOBAL OPTIONS"]
    for name, text in GLOBAL_OPTIONS:
        lines += _option_lines(name, text)
    return "\n".join(lines) + "\n"
