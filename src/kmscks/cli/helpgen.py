"""Build-time generator of `help.json`: every KMS command's reference page data, from the model.

Layer: cli (build time only). For each operation of botocore's KMS model (all of awscli's
`kms` commands, not only those cks runs): its documentation, its input members as options
(type, required, constraints, enum, nested members, shorthand and JSON syntax) and its output
members, with the documentation parsed into blocks (helpdoc.py). help.py reads the file only
when a help page is asked for, so `cks kms` never loads it on a normal run. modelgen.py writes
it beside operations.json; a test fails when it drifts from the installed botocore.
Must not import server code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kmscks.cli.helpdoc import blocks

OUTPUT_PATH = Path(__file__).with_name("help.json")


def _constraints(shape: Any) -> str:
    metadata = shape.metadata
    unit = {"string": " length", "blob": " length", "list": " items", "map": " entries"}.get(
        shape.type_name, ""
    )
    parts = []
    if "min" in metadata:
        parts.append(f"min{unit}: {metadata['min']}")
    if "max" in metadata:
        parts.append(f"max{unit}: {metadata['max']}")
    if "pattern" in metadata:
        parts.append(f"pattern: {metadata['pattern']}")
    return ", ".join(parts)


def _syntax_value(shape: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {name: _syntax_value(member) for name, member in shape.members.items()}
    if kind == "list":
        return [_syntax_value(shape.member)]
    if kind == "map":
        return {"KeyName": _syntax_value(shape.value)}
    if kind == "string" and getattr(shape, "enum", None):
        return "|".join(shape.enum)
    return kind


def _scalar(shape: Any) -> bool:
    return shape.type_name not in ("structure", "list", "map")


def shorthand_syntax(shape: Any) -> str | None:
    """awscli's shorthand example for structures, lists and maps of scalars (else None)."""
    kind = shape.type_name
    if kind == "structure" and all(_scalar(member) for member in shape.members.values()):
        return ",".join(f"{name}={_scalar_name(m)}" for name, m in shape.members.items())
    if kind == "list":
        inner = shape.member
        if _scalar(inner):
            return f"{_scalar_name(inner)} {_scalar_name(inner)} ..."
        nested = shorthand_syntax(inner)
        return f"{nested} ..." if nested and inner.type_name == "structure" else None
    if kind == "map" and _scalar(shape.value):
        value = _scalar_name(shape.value)
        return f"KeyName1={value},KeyName2={value}"
    return None


def _scalar_name(shape: Any) -> str:
    if shape.type_name == "string" and getattr(shape, "enum", None):
        return "|".join(shape.enum)
    return str(shape.type_name)


def describe(name: str, shape: Any, required: bool, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """One member (or list element, when `name` is empty) for OPTIONS and OUTPUT."""
    described: dict[str, Any] = {"name": name, "type": shape.type_name}
    documentation = blocks(shape.documentation)
    if documentation:
        described["doc"] = documentation
    if required:
        described["required"] = True
    constraints = _constraints(shape)
    if constraints:
        described["constraints"] = constraints
    if getattr(shape, "enum", None):
        described["enum"] = list(shape.enum)
    if shape.name in seen:  # a recursive shape: described once, above
        described["recursive"] = True
        return described
    seen = (*seen, shape.name)
    if shape.type_name == "structure":
        described["members"] = [
            describe(member, inner, member in shape.required_members, seen)
            for member, inner in shape.members.items()
        ]
    elif shape.type_name == "list":
        described["member"] = describe("", shape.member, False, seen)
    elif shape.type_name == "map":
        described["key"] = describe("", shape.key, False, seen)
        described["value"] = describe("", shape.value, False, seen)
    return described


def _option(name: str, shape: Any, required: bool) -> dict[str, Any]:
    import botocore

    option = describe(name, shape, required)
    option["option"] = botocore.xform_name(name, "-")
    if not _scalar(shape):
        option["shorthand"] = shorthand_syntax(shape)
        option["json"] = json.dumps(_syntax_value(shape), indent=2)
    return option


def build_help() -> dict[str, Any]:
    import botocore
    import botocore.session

    session = botocore.session.get_session()
    model = session.get_service_model("kms")
    paginators = session.get_paginator_model("kms")
    commands: dict[str, Any] = {}
    for name in model.operation_names:
        operation = model.operation_model(name)
        try:
            paginator: dict[str, Any] | None = dict(paginators.get_paginator(name))
        except ValueError:
            paginator = None
        inputs = operation.input_shape
        outputs = operation.output_shape
        commands[botocore.xform_name(name, "-")] = {
            "name": name,
            "doc": blocks(operation.documentation),
            "paginator": paginator,
            "options": [
                _option(member, shape, member in inputs.required_members)
                for member, shape in (inputs.members.items() if inputs else ())
            ],
            "output": [
                describe(member, shape, False)
                for member, shape in (outputs.members.items() if outputs else ())
            ],
        }
    return {"service": {"doc": blocks(model.documentation)}, "commands": commands}


def render() -> str:
    return json.dumps(build_help(), ensure_ascii=False, separators=(",", ":")) + "\n"


def write() -> Path:
    OUTPUT_PATH.write_text(render(), encoding="utf-8")
    return OUTPUT_PATH


if __name__ == "__main__":
    import sys

    sys.stdout.write(f"wrote {write()}\n")
