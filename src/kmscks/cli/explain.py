"""`cks kms explain-connection-error CODE`: what a ConnectionErrorCode means and how to fix it.

Layer: cli. A cks addition. The text is the KMS API Reference's, taken from the model's
documentation of CustomKeyStoresListEntry.ConnectionErrorCode by modelgen.py (the contract's
[D] source), per store type, followed by the general remediation. `--all` lists every code.
Must not import server code.
"""

from __future__ import annotations

import textwrap
from typing import TextIO

from kmscks.cli import spec
from kmscks.cli.errors import ParamValidationError

FIX_STEPS = (
    "To fix: disconnect the store (cks kms disconnect-custom-key-store --custom-key-store-id ID), "
    "correct the cause (cks kms update-custom-key-store ...), and connect again "
    "(cks kms connect-custom-key-store --custom-key-store-id ID)."
)


def _wrap(text: str, indent: str) -> str:
    lines = []
    for paragraph in text.split("\n"):
        bullet = paragraph.startswith("- ")
        lines.append(
            textwrap.fill(
                paragraph,
                width=88,
                initial_indent=indent,
                subsequent_indent=indent + ("  " if bullet else ""),
            )
        )
    return "\n".join(lines)


def explanation(code: str) -> str:
    help_data = spec.description()["connection_error_help"]
    parts = [code]
    for store_type, text in help_data["codes"].get(code, []):
        parts.append(f"  {store_type}:")
        parts.append(_wrap(text, "    "))
    parts.append(_wrap(FIX_STEPS, "  "))
    return "\n".join(parts) + "\n"


def explain(argv: list[str], out: TextIO) -> int:
    codes = spec.connection_error_codes()
    if argv == ["--all"]:
        out.write("\n".join(explanation(code) for code in codes))
        return 0
    if len(argv) != 1 or argv[0].upper() not in codes:
        raise ParamValidationError(
            "usage: cks kms explain-connection-error CODE | --all\n"
            "CODE is one of: " + ", ".join(codes)
        )
    out.write(explanation(argv[0].upper()))
    return 0
