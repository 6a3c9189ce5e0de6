"""DescribeCustomKeyStores pagination: Limit, opaque tamper-proof markers, walks under churn."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import SECOND_ACCESS_KEY, SECOND_SECRET
from tests.helpers.clients import kms_client, xks_params
from tests.helpers.proxies import FakeProxy
from tests.helpers.server import ServerProcess, start_cks_server


def create_many(kms: Any, count: int, prefix: str = "page") -> list[str]:
    return [
        kms.create_custom_key_store(**xks_params(f"{prefix}-{index}"))["CustomKeyStoreId"]
        for index in range(count)
    ]


def test_pages_follow_creation_order(kms: Any) -> None:
    ids = create_many(kms, 7)
    seen: list[str] = []
    markers: list[str] = []
    answer = kms.describe_custom_key_stores(Limit=3)
    while True:
        assert "Truncated" in answer
        seen += [s["CustomKeyStoreId"] for s in answer["CustomKeyStores"]]
        if not answer["Truncated"]:
            assert "NextMarker" not in answer
            break
        markers.append(answer["NextMarker"])
        answer = kms.describe_custom_key_stores(Limit=3, Marker=answer["NextMarker"])
    assert seen == ids
    assert len(markers) == len(set(markers)) == 2
    everything = kms.describe_custom_key_stores()
    assert [s["CustomKeyStoreId"] for s in everything["CustomKeyStores"]] == ids


def test_botocore_paginator_walks_every_store(kms: Any) -> None:
    ids = create_many(kms, 5)
    pages = kms.get_paginator("describe_custom_key_stores").paginate(
        PaginationConfig={"PageSize": 2}
    )
    assert [s["CustomKeyStoreId"] for page in pages for s in page["CustomKeyStores"]] == ids


def test_limit_is_bounded(server: ServerProcess, region: str) -> None:
    # botocore checks the minimum itself: turn its validation off to reach the server.
    kms = kms_client(server.url, region, validate=False)
    for limit, phrase in ((1001, "less than or equal to 1000"), (0, "greater than or equal to 1")):
        with pytest.raises(ClientError) as raised:
            kms.describe_custom_key_stores(Limit=limit)
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        assert phrase in raised.value.response["Error"]["Message"]


def _tampered(marker: str) -> list[str]:
    raw = bytearray(base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4)))
    flipped_position = bytearray(raw)
    flipped_position[8] ^= 1
    flipped_tag = bytearray(raw)
    flipped_tag[-1] ^= 1

    def encode(data: bytearray) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return [encode(flipped_position), encode(flipped_tag), marker[:-2], "garbage", "x" * 1024]


def test_forged_garbled_or_foreign_markers_are_refused(
    server: ServerProcess, kms: Any, region: str
) -> None:
    create_many(kms, 3)
    marker = kms.describe_custom_key_stores(Limit=1)["NextMarker"]
    foreign_clients = [
        kms_client(server.url, region, SECOND_ACCESS_KEY, SECOND_SECRET),
        kms_client(server.url, region + "-b"),
    ]
    for client, candidate in [(kms, bad) for bad in _tampered(marker)] + [
        (other, marker) for other in foreign_clients
    ]:
        with pytest.raises(ClientError) as raised:
            client.describe_custom_key_stores(Marker=candidate)
        assert raised.value.response["Error"]["Code"] == "InvalidMarkerException"


def test_markers_survive_a_restart(tmp_path: Path, healthy_proxy: FakeProxy) -> None:
    config = f"""
[xks]
resolve = {{ "xks.example.test" = "{healthy_proxy.address}" }}
allow_http = ["xks.example.test"]
"""
    server = start_cks_server(tmp_path, config)
    kms = kms_client(server.url)
    ids = create_many(kms, 3)
    marker = kms.describe_custom_key_stores(Limit=1)["NextMarker"]
    server.stop()
    server = start_cks_server(tmp_path, config, port=server.port)
    try:
        rest = kms.describe_custom_key_stores(Marker=marker)["CustomKeyStores"]
        assert [s["CustomKeyStoreId"] for s in rest] == ids[1:]
    finally:
        server.stop()


def test_a_walk_during_creates_and_deletes_returns_each_lasting_store_once(
    server: ServerProcess, region: str
) -> None:
    kms = kms_client(server.url, region)
    # Raise nothing to the quota: work below 10 stores at any moment.
    lasting = create_many(kms, 5, "lasting")
    stop = threading.Event()
    churn_errors: list[Exception] = []

    def churn() -> None:
        churner = kms_client(server.url, region)
        index = 0
        while not stop.is_set():
            try:
                created = churner.create_custom_key_store(**xks_params(f"churn-{index}"))
                churner.delete_custom_key_store(CustomKeyStoreId=created["CustomKeyStoreId"])
            except ClientError as error:
                churn_errors.append(error)
            index += 1

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(15):
            seen: list[str] = []
            answer = kms.describe_custom_key_stores(Limit=1)
            while True:
                seen += [s["CustomKeyStoreId"] for s in answer["CustomKeyStores"]]
                if not answer["Truncated"]:
                    break
                answer = kms.describe_custom_key_stores(Limit=1, Marker=answer["NextMarker"])
            assert [store for store in seen if store in lasting] == lasting
            assert len(seen) == len(set(seen))
    finally:
        stop.set()
        thread.join()
    assert churn_errors == []


def test_pages_on_the_wire_carry_no_nulls(kms: Any, server: ServerProcess, region: str) -> None:
    """botocore drops a null, so this reads the raw body: absent members are left out."""
    import json

    import requests
    from requests_aws4auth import AWS4Auth

    create_many(kms, 2, prefix="wire")

    def raw_page(limit: int) -> dict[str, Any]:
        response = requests.post(
            server.url + "/",
            data=json.dumps({"Limit": limit}),
            headers={
                "X-Amz-Target": "TrentService.DescribeCustomKeyStores",
                "Content-Type": "application/x-amz-json-1.1",
            },
            auth=AWS4Auth("test", "test", region, "kms"),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert "null" not in response.text
        return dict(response.json())

    truncated = raw_page(1)
    assert truncated["Truncated"] is True and truncated["NextMarker"]
    whole = raw_page(100)
    assert whole["Truncated"] is False and "NextMarker" not in whole
