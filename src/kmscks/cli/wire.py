"""Blob and timestamp parameters: from the command line to the request body.

Layer: cli. awscli v2 reads blob parameters as base64 by default (`cli_binary_format =
base64`): every text value of a blob member, from an option, a `file://` or `--cli-input-json`,
is base64-decoded before validation, and a bad one ends the run with `Invalid base64: "<value>"`
(exit 255). `raw-in-base64-out` sends the text's UTF-8 bytes; `fileb://` always gives raw bytes.
Blobs in responses are printed as the base64 text the service sent (awscli registers an
identity blob parser), so nothing here touches output. botocore's JSON serializer then writes
bytes as base64 and timestamps as epoch seconds. Must not import botocore or server code.
"""

from __future__ import annotations

import base64
import binascii
import calendar
from datetime import UTC, datetime
from typing import Any

from kmscks.cli.errors import CLIError, ProfileNotFoundError
from kmscks.cli.spec import Shape, members

BINARY_FORMATS = ("base64", "raw-in-base64-out")


class InvalidBase64Error(CLIError):
    """awscli's InvalidBase64Error reaches its general handler: exit 255."""


class UnknownBinaryFormatError(CLIError):
    """An unknown `cli_binary_format` in the profile: awscli looks it up in a dict and the
    KeyError's text is all it prints (exit 255)."""

    def __init__(self, value: str) -> None:
        super().__init__(repr(value))


def binary_format(option: str | None, profile_value: Any) -> str:
    """--cli-binary-format (argparse checked its choices), else the profile's
    cli_binary_format, else base64. `profile_value` is Settings.profile_value."""
    if option:
        return option
    try:
        value = profile_value("cli_binary_format")  # `cli_binary_format =` is '', unknown
        if value is None:
            value = "base64"
    except ProfileNotFoundError:
        value = "base64"  # awscli falls back here; the unknown profile fails later
    if value not in BINARY_FORMATS:
        raise UnknownBinaryFormatError(value)
    return str(value)


def decode_blobs(value: Any, shape: Shape) -> Any:
    """awscli's Base64DecodeVisitor, without changing `value` in place (a paginated call sends
    the same parameters again): text in blob members becomes the bytes it encodes."""
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        known = members(shape)
        return {
            key: decode_blobs(item, known[key]) if key in known else item
            for key, item in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [decode_blobs(item, shape["member"]) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: decode_blobs(item, shape["value"]) for key, item in value.items()}
    if kind == "blob" and isinstance(value, str):
        try:
            # Not validating, like base64.b64decode in awscli: characters outside the
            # alphabet are dropped, and only a wrong length or padding is an error.
            return base64.b64decode(value)
        except binascii.Error:
            raise InvalidBase64Error(f'Invalid base64: "{value}"')
    return value


def parse_timestamp(value: Any) -> datetime | None:
    """botocore's parse_to_aware_datetime for what a CLI user can give: epoch seconds (a
    number or its text) or an ISO 8601 string; naive times are UTC. None if it is neither."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_wire(value: Any, shape: Shape) -> Any:
    """botocore's JSON serializer: blobs as base64 text, timestamps as whole epoch seconds;
    members stay in the order they were given."""
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        known = members(shape)
        return {key: to_wire(item, known[key]) for key, item in value.items() if key in known}
    if kind == "list" and isinstance(value, list):
        return [to_wire(item, shape["member"]) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: to_wire(item, shape["value"]) for key, item in value.items()}
    if kind == "blob":
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    if kind == "timestamp":
        moment = parse_timestamp(value)
        if moment is None:
            return value
        # Whole seconds, as the awscli's bundled botocore writes them (Debian's 2.9.19, checked
        # by test_key_commands_wire.py); botocore 1.44 alone would keep the microseconds.
        return calendar.timegm(moment.utctimetuple())
    return value
