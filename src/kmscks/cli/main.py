"""Entry point of `cks kms ...`: error handling and exit codes around one invocation.

Layer: cli. Like awscli's error handler chain, every failure ends here as stderr text and the
AWS CLI's exit code (errors.py). Must not import server code, and keeps botocore, jmespath and
ruamel.yaml off the path of a plain json describe.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from kmscks.cli import arguments, errors, spec
from kmscks.cli.errors import GENERAL_RC, SIGINT_RC, CLIError, ParamValidationError


def main(argv: list[str]) -> int:
    """Run `cks kms <argv...>` and return the AWS CLI's exit code."""
    errors.STREAMS_AUTORESET = False
    try:
        return _run(argv)
    except KeyboardInterrupt:
        _write(sys.stdout, ["\n"])
        return SIGINT_RC
    except CLIError as error:
        _write(sys.stderr, error.writes())
        return error.rc
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else GENERAL_RC
    except BrokenPipeError:
        # The reader went away (`| head`); like the AWS CLI, that is not an error.
        _silence_stdout()
        return 0
    except Exception as error:  # awscli's GeneralExceptionHandler: the message, exit 255
        _write(sys.stderr, ["\n", str(error), "\n"])
        return GENERAL_RC
    finally:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            _silence_stdout()


def _write(stream: TextIO, parts: list[str]) -> None:
    # Once a coloured table formatter exists, awscli's streams are wrapped by colorama with
    # autoreset, which appends a reset after every write (an error while paging shows it).
    for part in parts:
        stream.write(part)
        if errors.STREAMS_AUTORESET:
            stream.write(errors.RESET)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _wants_help(argv: list[str]) -> bool:
    return argv[1:] == ["help"] or "--help" in argv[1:] or "-h" in argv[1:]


def _auto_prompt_requested(argv: list[str]) -> bool:
    """awscli checks this before parsing: --cli-auto-prompt, or `on` in AWS_CLI_AUTO_PROMPT or
    the profile's cli_auto_prompt (`on-partial` only prompts for incomplete commands, which cks
    reports as errors)."""
    if "--no-cli-auto-prompt" in argv:
        return False
    if "--cli-auto-prompt" in argv:
        return True
    if "AWS_CLI_AUTO_PROMPT" in os.environ:
        return os.environ["AWS_CLI_AUTO_PROMPT"] == "on"
    from kmscks.cli.settings import Settings

    # awscli looks at the AWS_PROFILE (or default) profile here: --profile is not applied yet.
    try:
        return Settings(dict(os.environ), None).profile_value("cli_auto_prompt") == "on"
    except CLIError:
        return False  # an unknown profile is reported later, as in aws


def _auto_prompt() -> int:
    # The interactive prompt (prompt_toolkit in awscli) is not implemented; without a
    # terminal awscli fails exactly like this (aws-cli-behaviour.md §7, §9).
    if not sys.stdin.isatty():
        sys.stderr.write("Warning: Input is not a terminal (fd=0).\n\n\n")
    else:
        sys.stderr.write("cks: --cli-auto-prompt is not supported; run the command directly\n")
    return GENERAL_RC


def _run(argv: list[str]) -> int:
    arguments.first_pass(["kms", *argv])
    if argv[:1] in (["help"], ["--help"], ["-h"]):
        from kmscks.cli.help import service_help, show

        show(service_help())
        return 0
    if (
        argv
        and argv[0] in (*spec.service_commands(), *arguments.EXTRA_COMMANDS)
        and _wants_help(argv)
    ):
        from kmscks.cli.help import operation_help, show

        show(operation_help(argv[0]))
        return 0
    if _auto_prompt_requested(argv):
        return _auto_prompt()
    from kmscks.cli.invocation import Invocation

    global_options, remaining = arguments.global_parser().parse_known_args(["kms", *argv])
    invocation = Invocation(global_options, dict(os.environ), argv)
    invocation.resolve_globals()
    if remaining[:1] == ["explain-connection-error"]:
        from kmscks.cli.explain import ServerDiagnostics, explain

        return explain(remaining[1:], sys.stdout, ServerDiagnostics(invocation))
    parsed, remaining = arguments.service_parser().parse_known_args(remaining)
    if parsed.operation == "help":
        from kmscks.cli.help import service_help, show

        show(service_help())
        return 0
    if parsed.operation not in spec.operation_names():
        raise ParamValidationError(
            f"cks kms {parsed.operation}: not implemented; cks implements the custom key store and "
            f"key commands ({', '.join(spec.operation_names())})"
        )
    return invocation.run(parsed.operation, remaining)
