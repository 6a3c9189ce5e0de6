"""The model-driven output serializer: what it drops, what it converts, and that a value already
in wire form passes through unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from kmscks.api.model import load_service_model
from kmscks.api.serialize import OutputSerializer

ENTRY = {
    "CustomKeyStoreId": "cks-1234567890abcdef0",
    "CustomKeyStoreName": "one",
    "ConnectionState": "CONNECTED",
    "CreationDate": 1764331200.5,
    "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
    "XksProxyConfiguration": {"Connectivity": "PUBLIC_ENDPOINT", "UriPath": "/kms/xks/v1"},
}


def serialize(result: dict) -> dict:
    return OutputSerializer(load_service_model("kms")).for_operation("DescribeCustomKeyStores")(
        result
    )


def test_a_value_in_wire_form_passes_through() -> None:
    result = {"CustomKeyStores": [ENTRY], "Truncated": False}
    out = serialize(result)
    assert out == result
    assert out["CustomKeyStores"][0] is ENTRY  # nothing to change: not copied


def test_absent_and_unknown_members_are_dropped_at_every_level() -> None:
    entry = {
        **ENTRY,
        "ConnectionErrorCode": None,
        "Secret": "never shown",
        "XksProxyConfiguration": {**ENTRY["XksProxyConfiguration"], "AccessKeyId": None},
    }
    out = serialize({"CustomKeyStores": [entry], "Truncated": False, "NextMarker": None})
    assert out == {"CustomKeyStores": [ENTRY], "Truncated": False}
    assert "ConnectionErrorCode" in entry  # the service's value is not modified


def test_datetimes_become_epoch_seconds_without_touching_the_input() -> None:
    created = datetime(2026, 11, 28, 12, 0, 0, 500000, tzinfo=UTC)
    entry = {**ENTRY, "CreationDate": created}
    out = serialize({"CustomKeyStores": [entry], "Truncated": False})
    assert out["CustomKeyStores"][0]["CreationDate"] == created.timestamp()
    assert entry["CreationDate"] is created


def test_no_result_serializes_as_an_empty_object() -> None:
    assert serialize(None) == {}  # type: ignore[arg-type]
