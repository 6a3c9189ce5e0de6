"""The six operations as the CLI sees them, loaded from the generated `operations.json`.

Layer: cli. `operations.json` is produced from the botocore KMS model by `modelgen.py`; this
module only reads it (json is cheap, botocore is not). Must not import botocore or server code.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

Shape = dict[str, Any]


@cache
def description() -> dict[str, Any]:
    path = Path(__file__).with_name("operations.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def operation(cli_name: str) -> dict[str, Any]:
    """The operation behind a CLI command name such as `describe-custom-key-stores`."""
    result: dict[str, Any] = description()["operations"][cli_name]
    return result


def operation_names() -> list[str]:
    return list(description()["operations"])


def service() -> dict[str, str]:
    result: dict[str, str] = description()["service"]
    return result


def members(shape: Shape) -> dict[str, Shape]:
    """A structure's members in model order."""
    return dict((name, member) for name, member in shape["members"])


def connection_error_codes() -> list[str]:
    return list(description()["connection_error_codes"])


def service_commands() -> list[str]:
    """Every KMS operation's command name, in the model's order (awscli's command table)."""
    return list(description()["service_commands"])
