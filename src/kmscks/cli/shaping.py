"""Turning a response body into what the AWS CLI prints: model member order and timestamps.

Layer: cli. botocore's parser walks the output shape, so members come out in model order,
unknown members are dropped, and `cli_timestamp_format` decides how timestamps look: `iso8601`
(default) is the epoch converted to the local time zone and `isoformat()`-ed, `wire` is the raw
number (../shared/contract/aws-cli-behaviour.md §2). A member the service sends as
null is dropped like an absent one. Must not import botocore or server code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kmscks.cli.spec import Shape


def iso_timestamp(value: Any) -> Any:
    """The epoch number as botocore's parse_timestamp(...).isoformat() prints it in local time."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str):
            try:
                return iso_timestamp(float(value))
            except ValueError:
                pass
            try:  # botocore: dateutil's parse(value).isoformat(), in the string's own offset
                return datetime.fromisoformat(value).isoformat()
            except ValueError:
                return value
        return value
    return datetime.fromtimestamp(value, UTC).astimezone().isoformat()


def shape_value(value: Any, shape: Shape, timestamp_format: str) -> Any:
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            return value
        result = {}
        for name, member in shape["members"]:
            # botocore's parser drops a member whose value is null, like an absent one
            if value.get(name) is not None:
                result[name] = shape_value(value[name], member, timestamp_format)
        return result
    if kind == "list":
        if not isinstance(value, list):
            return value
        return [shape_value(item, shape["member"], timestamp_format) for item in value]
    if kind == "map":
        if not isinstance(value, dict):
            return value
        return {
            key: shape_value(item, shape["value"], timestamp_format) for key, item in value.items()
        }
    if kind == "timestamp" and timestamp_format == "iso8601":
        return iso_timestamp(value)
    return value
