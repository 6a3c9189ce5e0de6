"""The `cks` command: dispatches to a subcommand, importing only that subcommand's module.

`cks kms ...` must start fast, so nothing heavy is imported here: each subcommand's module
is imported only when it is chosen.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module

# subcommand -> ("module[:function]", help). The function (default `main`) takes the
# remaining arguments and returns the exit code.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("kmscks.server", "run the KMS custom key store server"),
    "xks-proxy": ("kmscks.xksproxy.cli", "run the bundled XKS proxy, or `init` its config"),
    "kms": ("kmscks.cli.main", "aws-compatible `kms` client commands"),
    "cloudhsm": ("kmscks.cloudhsm.admin_cli", "admin commands for simulated CloudHSM clusters"),
    "configure": ("kmscks.cli.configure", "write a profile: region, endpoint and access keys"),
    "login": ("kmscks.cli.configure:login", "write a profile's access keys"),
}

USAGE = (
    "usage: cks <command> [options]\n\ncommands:\n"
    + "".join(f"  {name:<10} {help_text}\n" for name, (_, help_text) in SUBCOMMANDS.items())
    + "\noptions:\n"
    "  --version  print the version (cks/<version> Python/<version> <system>/<release>\n"
    "             source/<machine>) and exit\n"
    "  -h, --help print this help and exit\n"
    "\nRun `cks <command> --help` for a command's own options.\n"
)


def cks_command() -> str:
    """The running `cks` as an absolute, shell-quoted command, for commands cks prints for the
    user to paste: a bare `cks` is often not on PATH (it lives in the project's .venv)."""
    import shlex

    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(script) == "cks" and os.path.isfile(script):
        return shlex.quote(script)
    beside_python = os.path.join(os.path.dirname(sys.executable), "cks")
    if os.path.isfile(beside_python):
        return shlex.quote(beside_python)
    return f"{shlex.quote(sys.executable)} -m kmscks"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if args[0] == "--version":
        from kmscks import version_string

        sys.stdout.write(version_string() + "\n")
        return 0
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        sys.stderr.write(f"cks: unknown command '{args[0]}'\n\n{USAGE}")
        return 2
    module_name, _, function = entry[0].partition(":")
    module = import_module(module_name)
    return int(getattr(module, function or "main")(args[1:]) or 0)
