"""The model-driven output serializer: what it drops, what it converts, and that a value already
in wire form passes through unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kmscks.api.model import load_service_model
from kmscks.api.serialize import OutputSerializer
from kmscks.service.views import list_entry
from kmscks.store.records import StoreRecord
from kmscks.wireform import WireForm

ENTRY: dict[str, Any] = {
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


def _every_kind_of_store() -> list[StoreRecord]:
    xks = {
        "store_type": "EXTERNAL_KEY_STORE",
        "xks_connectivity": "PUBLIC_ENDPOINT",
        "xks_access_key_id": "ABCDEFGHIJKLMNOPQRST",
        "xks_uri_endpoint": "https://xks.example.test",
        "xks_uri_path": "/kms/xks/v1",
    }
    vpc = {
        **xks,
        "xks_connectivity": "VPC_ENDPOINT_SERVICE",
        "xks_vpc_service_name": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
        "xks_vpc_service_owner": "111122223333",
    }
    hsm = {
        "store_type": "AWS_CLOUDHSM",
        "cloudhsm_cluster_id": "cluster-1234567890a",
        "trust_anchor_certificate": "-----BEGIN CERTIFICATE-----",
    }
    states = ("CONNECTED", "CONNECTING", "DISCONNECTED", "DISCONNECTING", "FAILED")
    records: list[StoreRecord] = []
    for kind in (xks, vpc, hsm):
        for state in states:
            record = StoreRecord(
                id=f"cks-{len(records):017}",
                account_id="000000000000",
                region="us-east-1",
                name=f"s{len(records)}",
                store_type=kind["store_type"],
                connection_state=state,
                creation_date=1764331200.25,
                connection_error_code="NETWORK_ERRORS" if state == "FAILED" else None,
            )
            for column, value in kind.items():
                setattr(record, column, value)
            records.append(record)
    return records


def test_every_describe_entry_is_built_in_wire_form() -> None:
    """list_entry's WireForm skips the serializer's checks, so the full serializer must give
    every kind of entry back unchanged."""
    full = OutputSerializer(load_service_model("kms")).compile("CustomKeyStoresListEntry")
    for record in _every_kind_of_store():
        entry = list_entry(record)
        assert isinstance(entry, WireForm)
        assert full(dict(entry)) == entry, record
        assert None not in entry.values()
