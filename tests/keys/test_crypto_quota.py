"""The crypto quota of a custom key store (`[keys] crypto_requests_per_second`): past N crypto
calls per second on one store, ThrottlingException with AWS's message; each store counts its
own calls, keys outside any store are never counted, and without the setting nothing is.

The quota server has a rate of 3; boto3 clients here never retry (total_max_attempts = 1), so a
throttled call is seen as the error rather than being retried away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.cloudhsm.lab import Lab, hsm_region
from tests.helpers.proxies import wait_for
from tests.helpers.server import ServerProcess, start_cks_server
from tests.keys.conftest import KeyedProxy, server_config
from tests.keys.test_cloudhsm_keys import connected_store, create_hsm_key

RATE = 3
THROTTLED = (
    "ThrottlingException",
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
)
# Calls made one after the other until one is throttled: each takes far less than the 1/RATE s
# that refills a token, so the bucket drains long before this many.
MAX_CALLS = 200


@pytest.fixture(scope="module")
def quota_server(
    tmp_path_factory: pytest.TempPathFactory, keyed_proxy: KeyedProxy
) -> Iterator[ServerProcess]:
    server = start_cks_server(
        tmp_path_factory.mktemp("crypto-quota-server"),
        server_config(keyed_proxy, f"crypto_requests_per_second = {RATE}"),
    )
    yield server
    server.stop()


@pytest.fixture
def quota_lab(quota_server: ServerProcess) -> Lab:
    return Lab(quota_server.url, hsm_region())


def outcome(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    """('ok', '') or the error's code and message."""
    try:
        call(**params)
    except ClientError as raised:
        body = raised.response["Error"]
        return str(body["Code"]), str(body.get("Message", ""))
    return "ok", ""


def calls_until_throttled(call: Callable[..., Any], **params: Any) -> int:
    """How many calls passed before the first throttled one (which must come)."""
    for passed in range(MAX_CALLS):
        result = outcome(call, **params)
        if result != ("ok", ""):
            assert result == THROTTLED
            return passed
    raise AssertionError(f"{MAX_CALLS} calls in a row were not throttled")


def test_a_store_is_throttled_past_its_rate(quota_lab: Lab) -> None:
    kms = quota_lab.kms
    _, store_id = connected_store(quota_lab)
    key = create_hsm_key(quota_lab, store_id)
    # A full bucket: the first RATE calls pass whatever the machine's speed.
    passed = calls_until_throttled(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert passed >= RATE
    # It refills: a call passes again a moment later.
    blob = wait_for(lambda: _encrypted(kms, key["KeyId"]))
    # Every crypto operation on the store's keys is counted: each alone reaches the limit
    # (nothing else on this server throttles; the request quota is off).
    for call, params in (
        (kms.decrypt, {"CiphertextBlob": blob}),
        (kms.re_encrypt, {"CiphertextBlob": blob, "DestinationKeyId": key["KeyId"]}),
        (kms.generate_data_key, {"KeyId": key["Arn"], "KeySpec": "AES_256"}),
        (kms.generate_data_key_without_plaintext, {"KeyId": key["Arn"], "NumberOfBytes": 16}),
        (kms.generate_random, {"CustomKeyStoreId": store_id, "NumberOfBytes": 16}),
    ):
        calls_until_throttled(call, **params)
    # Not crypto calls: DescribeKey and the like are never counted against the store.
    for _ in range(20):
        assert outcome(kms.describe_key, KeyId=key["KeyId"]) == ("ok", "")


def _encrypted(kms: Any, key_id: str) -> bytes | None:
    try:
        return bytes(kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"])
    except ClientError as raised:
        assert raised.response["Error"]["Code"] == THROTTLED[0]
        return None


def test_each_store_counts_its_own_calls(quota_lab: Lab) -> None:
    kms = quota_lab.kms
    first_store = _connected(quota_lab, "first")
    second_store = _connected(quota_lab, "second")
    first = create_hsm_key(quota_lab, first_store)
    second = create_hsm_key(quota_lab, second_store)
    calls_until_throttled(kms.encrypt, KeyId=first["KeyId"], Plaintext=b"x")
    # The second store's bucket is untouched: its first RATE calls pass at once.
    for _ in range(RATE):
        assert outcome(kms.encrypt, KeyId=second["KeyId"], Plaintext=b"x") == ("ok", "")


def _connected(lab: Lab, name: str) -> str:
    store_id = lab.create_store(lab.build(), name=name)
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    return store_id


def test_keys_outside_any_store_are_never_throttled(quota_lab: Lab) -> None:
    kms = quota_lab.kms
    _, store_id = connected_store(quota_lab)
    in_store = create_hsm_key(quota_lab, store_id)
    plain = kms.create_key()["KeyMetadata"]
    calls_until_throttled(kms.encrypt, KeyId=in_store["KeyId"], Plaintext=b"x")
    blob = kms.encrypt(KeyId=plain["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    for _ in range(20):
        assert outcome(kms.encrypt, KeyId=plain["KeyId"], Plaintext=b"x") == ("ok", "")
        assert outcome(kms.decrypt, CiphertextBlob=blob) == ("ok", "")
        assert outcome(kms.generate_random, NumberOfBytes=8) == ("ok", "")


def test_without_the_setting_nothing_is_throttled(lab: Lab) -> None:
    # The session keys server has no crypto_requests_per_second.
    kms = lab.kms
    _, store_id = connected_store(lab)
    key = create_hsm_key(lab, store_id)
    for _ in range(20):
        assert outcome(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == ("ok", "")
        assert outcome(kms.generate_random, CustomKeyStoreId=store_id, NumberOfBytes=8) == (
            "ok",
            "",
        )
