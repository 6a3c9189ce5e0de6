"""The opt-in request quota: AWS's requests per second per operation, account and Region,
answered with ThrottlingException (400) over it, which botocore retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmscks.api.quota import THROTTLING_MESSAGE, RequestQuota
from kmscks.config import ConfigError, load_config
from kmscks.errors import ServiceError
from kmscks.store.rates import RateBuckets
from kmscks.store.sql import SqliteStore
from tests.conftest import SECOND_ACCESS_KEY, SECOND_ACCOUNT, SECOND_SECRET
from tests.helpers.clients import kms_client
from tests.helpers.server import ServerProcess, start_cks_server

RATE = 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_of_the_rate_then_refills_at_it(tmp_path: Path) -> None:
    clock = FakeClock()
    quota = RequestQuota("request", 5, RateBuckets(SqliteStore(tmp_path / "cks.sqlite3")), clock)
    for _ in range(5):
        quota.take("DescribeCustomKeyStores", "000000000000", "us-east-1")
    with pytest.raises(ServiceError) as raised:
        quota.take("DescribeCustomKeyStores", "000000000000", "us-east-1")
    assert (raised.value.code, raised.value.message) == ("ThrottlingException", THROTTLING_MESSAGE)
    # Another operation, account or region has its own bucket.
    quota.take("ConnectCustomKeyStore", "000000000000", "us-east-1")
    quota.take("DescribeCustomKeyStores", "111122223333", "us-east-1")
    quota.take("DescribeCustomKeyStores", "000000000000", "eu-west-1")
    clock.now += 0.2  # one token back
    quota.take("DescribeCustomKeyStores", "000000000000", "us-east-1")
    with pytest.raises(ServiceError):
        quota.take("DescribeCustomKeyStores", "000000000000", "us-east-1")
    clock.now += 60  # never more than one second's worth saved
    for _ in range(5):
        quota.take("DescribeCustomKeyStores", "000000000000", "us-east-1")
    with pytest.raises(ServiceError):
        quota.take("DescribeCustomKeyStores", "000000000000", "us-east-1")


def test_the_quota_is_off_unless_configured_and_never_negative(tmp_path: Path) -> None:
    config = tmp_path / "cks.toml"
    config.write_text("")
    assert load_config(config).requests_per_second == 0
    config.write_text("[limits]\nrequests_per_second = 5\n")
    assert load_config(config).requests_per_second == 5
    config.write_text("[limits]\nrequests_per_second = -1\n")
    with pytest.raises(ConfigError, match="requests_per_second"):
        load_config(config)


@pytest.fixture(scope="module")
def throttled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = f"""
[limits]
requests_per_second = {RATE}

[[credentials]]
access_key_id = "{SECOND_ACCESS_KEY}"
secret_access_key = "{SECOND_SECRET}"
account_id = "{SECOND_ACCOUNT}"
"""
    process = start_cks_server(tmp_path_factory.mktemp("throttled"), config)
    yield process
    process.stop()


def _throttled_calls(call: Any, count: int) -> int:
    throttled = 0
    for _ in range(count):
        try:
            call()
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ThrottlingException"
            assert error.response["Error"]["Message"] == THROTTLING_MESSAGE
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            throttled += 1
    return throttled


def test_a_server_with_a_quota_throttles_each_operation_account_and_region(
    throttled_server: ServerProcess,
) -> None:
    kms = kms_client(throttled_server.url, "ap-south-1")
    # More calls than the bucket holds, faster than it refills: some are throttled.
    assert _throttled_calls(kms.describe_custom_key_stores, 4 * RATE) >= RATE
    # Other operations, accounts and regions are not.
    other_account = kms_client(throttled_server.url, "ap-south-1", SECOND_ACCESS_KEY, SECOND_SECRET)
    assert _throttled_calls(other_account.describe_custom_key_stores, RATE - 1) == 0
    assert (
        _throttled_calls(
            kms_client(throttled_server.url, "sa-east-1").describe_custom_key_stores, RATE - 1
        )
        == 0
    )
    missing = "cks-00000000000000000"
    with pytest.raises(ClientError, match="NotFound"):
        kms.connect_custom_key_store(CustomKeyStoreId=missing)
    time.sleep(1.1)  # the bucket is full again
    assert _throttled_calls(kms.describe_custom_key_stores, RATE) == 0


def test_botocore_retries_a_throttled_call_until_it_passes(throttled_server: ServerProcess) -> None:
    kms = kms_client(throttled_server.url, "me-south-1", retries=8)
    for _ in range(3 * RATE):  # botocore's backoff waits for the bucket to refill
        assert kms.describe_custom_key_stores()["CustomKeyStores"] == []
