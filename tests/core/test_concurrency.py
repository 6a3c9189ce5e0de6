"""Uniqueness and the quota hold under concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from tests.helpers.clients import kms_client, xks_params
from tests.helpers.server import ServerProcess


def _attempt(kms: Any, params: dict[str, Any]) -> str:
    try:
        kms.create_custom_key_store(**params)
        return "created"
    except ClientError as error:
        return str(error.response["Error"]["Code"])


def test_hundred_concurrent_creates_of_one_name(server: ServerProcess, region: str) -> None:
    kms = kms_client(server.url, region)
    requests = [xks_params("contested", path=f"/p{index}/kms/xks/v1") for index in range(100)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(lambda params: _attempt(kms, params), requests))
    assert outcomes.count("created") == 1
    assert set(outcomes) == {"created", "CustomKeyStoreNameInUseException"}
    assert len(kms.describe_custom_key_stores()["CustomKeyStores"]) == 1


def test_concurrent_creates_never_exceed_the_quota(server: ServerProcess, region: str) -> None:
    kms = kms_client(server.url, region)
    requests = [xks_params(f"racer-{index}") for index in range(40)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(lambda params: _attempt(kms, params), requests))
    assert outcomes.count("created") == 10
    assert set(outcomes) == {"created", "LimitExceededException"}
    assert len(kms.describe_custom_key_stores()["CustomKeyStores"]) == 10


def test_concurrent_creates_of_one_endpoint_and_path(server: ServerProcess, region: str) -> None:
    kms = kms_client(server.url, region)
    requests = [xks_params(f"uri-{index}", path="/same/kms/xks/v1") for index in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(lambda params: _attempt(kms, params), requests))
    assert outcomes.count("created") == 1
    assert set(outcomes) == {"created", "XksProxyUriInUseException"}
