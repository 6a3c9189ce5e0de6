"""Client-side parameter validation, exactly as botocore's ParamValidator reports it.

Layer: cli. Like the AWS CLI, only required members, unknown members, types, minimum lengths
and minimum values are checked; maximums, patterns and enums are left to the server
(../shared/contract/kms-custom-key-stores.md §1). Must not import botocore or server code.
"""

from __future__ import annotations

from typing import Any, cast

from kmscks.cli.errors import ParamValidationError
from kmscks.cli.spec import Shape, members

_PY_TYPES: dict[str, tuple[type[Any], ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "structure": (dict,),
    "map": (dict,),
    "list": (list, tuple),
}


def validate(params: dict[str, Any], shape: Shape) -> None:
    """Raise ParamValidationError with botocore's report when `params` break the model."""
    errors: list[str] = []
    _validate(params, shape, "", errors)
    if errors:
        raise ParamValidationError("Parameter validation failed:\n" + "\n".join(errors))


def _display(name: str) -> str:
    return name[1:] if name else "input"


# Blobs and timestamps are not checked with isinstance alone; these are botocore's names.
_BLOB_TYPES = (bytes, bytearray, str)
_OTHER_TYPE_NAMES = {
    "blob": "<class 'bytes'>, <class 'bytearray'>, file-like object",
    "timestamp": "<class 'datetime.datetime'>, timestamp-string",
}


def _invalid_type(value: Any, name: str, valid_names: str) -> str:
    return (
        f"Invalid type for parameter {_display(name)}, value: {value}, "
        f"type: {type(value)}, valid types: {valid_names}"
    )


def _validate(value: Any, shape: Shape, name: str, errors: list[str]) -> None:
    kind = shape["type"]
    if kind == "blob":
        # No length check: botocore checks only the type of a blob.
        if not isinstance(value, _BLOB_TYPES):
            errors.append(_invalid_type(value, name, _OTHER_TYPE_NAMES[kind]))
        return
    if kind == "timestamp":
        from kmscks.cli.wire import parse_timestamp

        if parse_timestamp(value) is None:
            errors.append(_invalid_type(value, name, _OTHER_TYPE_NAMES[kind]))
        return
    valid = _PY_TYPES.get(kind, (object,))
    if not isinstance(value, valid):
        errors.append(_invalid_type(value, name, ", ".join(str(t) for t in valid)))
        return
    value = cast(Any, value)
    if kind == "structure":
        known = members(shape)
        for required in shape.get("required", []):
            if required not in value:
                errors.append(f'Missing required parameter in {_display(name)}: "{required}"')
        for key in value:
            if key not in known:
                errors.append(
                    f'Unknown parameter in {_display(name)}: "{key}", '
                    f"must be one of: {', '.join(known)}"
                )
        for key, item in value.items():
            if key in known:
                _validate(item, known[key], f"{name}.{key}", errors)
    elif kind == "list":
        if "min" in shape and len(value) < shape["min"]:
            errors.append(
                f"Invalid length for parameter {_display(name)}, value: {len(value)}, "
                f"valid min length: {shape['min']}"
            )
        for index, item in enumerate(value):
            _validate(item, shape["member"], f"{name}[{index}]", errors)
    elif kind == "map":
        for key, item in value.items():
            _validate(key, shape["key"], f"{name} (key: {key})", errors)
            _validate(item, shape["value"], f"{name}.{key}", errors)
    elif kind == "string" and "min" in shape and len(value) < shape["min"]:
        errors.append(
            f"Invalid length for parameter {_display(name)}, value: {len(value)}, "
            f"valid min length: {shape['min']}"
        )
    elif kind in ("integer", "long") and "min" in shape and value < shape["min"]:
        errors.append(
            f"Invalid value for parameter {_display(name)}, value: {value}, "
            f"valid min value: {shape['min']}"
        )
