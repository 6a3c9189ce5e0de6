"""Every proxy outcome of a key operation (contract kms-keys-in-custom-key-stores.md §8.4).

The XKS key client calls real servers on 127.0.0.1 that answer each proxy error, garbage,
schema-breaking or inconsistent answers, refuse, stall, or present a bad certificate; each
case must give the exact exception and message for CreateKey and for the crypto operations.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmscks.config import XksSettings
from kmscks.connectors.xks import XksConnector
from kmscks.connectors.xks_key_errors import KEY_OUTCOMES, KeyOutcome, XksKeyError, to_service_error
from kmscks.connectors.xks_keys import ProxyCiphertext, RequestMetadata, integrity_value
from kmscks.connectors.xks_transport import ProxySettings
from tests.helpers.clients import VALID_ACCESS_KEY_ID, VALID_SECRET
from tests.helpers.proxies import (
    Behaviour,
    FakeProxy,
    StallingServer,
    Tls,
    closed_port_address,
    error_body,
    json_body,
    untrusted_context,
    wait_for,
)
from tests.helpers.scripted_server import Script, ScriptedServer, http_response

REGION = "us-east-1"
PATH = "/outcomes/kms/xks/v1"
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
META = RequestMetadata("arn:aws:iam::111122223333:user/alice", "Encrypt", "req-1", KEY_ARN)
CREATE_META = RequestMetadata("arn:aws:iam::111122223333:user/alice", "CreateKey", "req-2")
PLAINTEXT = bytes(range(60))  # an inner layer's size for a 32-byte data key
AAD = b"H" * 54
BLOB = ProxyCiphertext(b"i" * 12, b"t" * 16, b"c" * 60)

CANNOT_INTERPRET = (
    "AWS KMS cannot interpret the response from the external key store proxy. If you see this"
    " error repeatedly, report it to your external key store proxy administrator."
)
STORE = "CustomKeyStoreInvalidStateException"
KEY_CONFIG = "XksKeyInvalidConfigurationException"

# (HTTP status, errorName) -> (CreateKey exception, message), word for word from §8.4.
ERROR_ROWS: dict[tuple[int, str], tuple[str | None, str]] = {
    (400, "ValidationException"): (STORE, CANNOT_INTERPRET),
    (400, "InvalidStateException"): (
        KEY_CONFIG,
        "The external key store proxy rejected the request because the external key is not"
        " enabled in the external key manager.",
    ),
    (400, "InvalidCiphertextException"): (
        None,
        "The external key store proxy rejected the request because the specified ciphertext or"
        " additional authenticated data is corrupted, missing, or otherwise invalid.",
    ),
    (400, "InvalidKeyUsageException"): (
        KEY_CONFIG,
        "The external key store proxy rejected the request because the external key does not"
        " support the requested operation.",
    ),
    (401, "AuthenticationFailedException"): (
        STORE,
        "The external key store proxy rejected the request because it could not authenticate"
        " AWS KMS. Verify the credentials for your external key store and update if necessary.",
    ),
    (403, "AccessDeniedException"): (
        STORE,
        "The external key store proxy denied access to the operation. Verify that the user and"
        " the external key are both authorized for this operation, and try the request again.",
    ),
    (404, "KeyNotFoundException"): (
        "XksKeyNotFoundException",
        "The external key store proxy rejected the request because it could not find the"
        " external key.",
    ),
    (404, "InvalidUriPathException"): (
        STORE,
        "The external key store proxy rejected the request because of an invalid URI path."
        " Verify the URI path for your external key store and update if necessary.",
    ),
    (429, "ThrottlingException"): (
        STORE,
        "The external key store proxy rejected the request due to a very high request rate."
        " Reduce the frequency of your calls using KMS keys in this external key store.",
    ),
    (501, "UnsupportedOperationException"): (
        STORE,
        "The external key store proxy rejected the request because it does not support the"
        " requested operation. If you see this error repeatedly, report it to your external key"
        " store proxy administrator.",
    ),
    (503, "DependencyTimeoutException"): (
        STORE,
        "The external key store proxy did not respond to the request in the time allotted."
        " Retry the request. If you see this error repeatedly, report it to your external key"
        " store proxy administrator.",
    ),
    (500, "InternalException"): (
        STORE,
        "The external key store proxy rejected the request because it cannot communicate with"
        " the external key manager. Verify that the external key store proxy configuration is"
        " correct and that the external key manager is available.",
    ),
}
UNREACHABLE = (
    "AWS KMS cannot communicate with the external key store proxy. This might be a transient"
    " network issue. If you see this error repeatedly, verify that your external key store"
    " proxy is active and is connected to the network, and that its endpoint URI is correct in"
    " your external key store."
)
BAD_TLS = (
    "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS"
    " configuration, including its certificate."
)
NO_TIMELY_ANSWER = (
    "AWS KMS rejected the request because the external key store proxy did not respond in"
    " time. Retry the request. If you see this error repeatedly, report it to your external"
    " key store proxy administrator."
)


def _settings(resolve: dict[str, str], tls: Tls | None = None, **extra: Any) -> XksSettings:
    plain = frozenset(host for host in resolve if host.startswith("plain"))
    ca = tls.ca_path if tls is not None else None
    return XksSettings(resolve=resolve, ca_bundle=ca, allow_http=plain, **extra)


def _proxy(host: str) -> ProxySettings:
    return ProxySettings(
        "PUBLIC_ENDPOINT", f"https://{host}", PATH, VALID_ACCESS_KEY_ID, VALID_SECRET
    )


def _call(connector: XksConnector, host: str, operation: str) -> Any:
    keys, proxy = connector.keys, _proxy(host)

    async def call() -> Any:
        if operation == "metadata":
            return await keys.get_key_metadata(proxy, REGION, "key-1", CREATE_META)
        if operation == "encrypt":
            return await keys.encrypt(proxy, REGION, "key-1", PLAINTEXT, AAD, META)
        return await keys.decrypt(proxy, REGION, "key-1", BLOB, AAD, META)

    async def run() -> Any:
        try:
            return await call()
        finally:
            await connector.transport.pool.close()

    return asyncio.run(run())


def _failure(connector: XksConnector, host: str, operation: str) -> XksKeyError:
    with pytest.raises(XksKeyError) as raised:
        _call(connector, host, operation)
    return raised.value


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProxy]:
    proxy = FakeProxy(Behaviour())
    yield proxy
    proxy.close()


@pytest.fixture
def plain(fake: FakeProxy) -> XksConnector:
    return XksConnector(_settings({"plain.test": fake.address}), ())


@pytest.mark.parametrize(("status", "name"), sorted(ERROR_ROWS))
@pytest.mark.parametrize("operation", ["metadata", "encrypt", "decrypt"])
def test_each_proxy_error_gives_the_exception_and_message_of_both_columns(
    fake: FakeProxy, plain: XksConnector, status: int, name: str, operation: str
) -> None:
    fake.behaviour = Behaviour(status, error_body(name))
    error = _failure(plain, "plain.test", operation)
    create, message = ERROR_ROWS[(status, name)]
    if name == "InvalidCiphertextException" and operation != "decrypt":
        # Only Decrypt may answer it (proxy API); from any other call it is a malformed answer.
        create, message = STORE, CANNOT_INTERPRET
    assert create is not None or operation == "decrypt"
    crypto = error.to_service_error(for_create=False)
    assert (crypto.code, crypto.message) == ("KMSInvalidStateException", message)
    if create is not None:
        created = error.to_service_error(for_create=True)
        assert (created.code, created.message) == (create, message)
    assert "from a test proxy" not in crypto.message  # the proxy's errorMessage stays in logs
    assert f"HTTP {status}" in error.cause and "from a test proxy" in error.cause


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, error_body("NoSuchErrorName")),  # an unknown errorName
        (400, error_body("validationexception")),  # matched exactly
        (404, b"Not Found"),  # an HTTP error without JSON
        (500, json_body({"message": "no errorName"})),
        (200, b"<html>not json</html>"),
        (200, json_body(["not", "an", "object"])),
        (302, b""),
    ],
)
def test_answers_without_a_known_error_name_are_malformed(
    fake: FakeProxy, plain: XksConnector, status: int, body: bytes
) -> None:
    fake.behaviour = Behaviour(status, body)
    for operation in ("metadata", "encrypt", "decrypt"):
        error = _failure(plain, "plain.test", operation)
        assert error.outcome is KeyOutcome.MALFORMED
        assert error.to_service_error(True).message == CANNOT_INTERPRET
        assert error.to_service_error(True).code == STORE


def _encrypt_answer(**overrides: Any) -> dict[str, Any]:
    iv, tag, ciphertext, ctm = b"v" * 12, b"g" * 16, b"x" * len(PLAINTEXT), b"key_version=1"
    digest = hashlib.sha256(AAD + ctm + iv + ciphertext + tag).digest()
    answer = {
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "initializationVector": base64.b64encode(iv).decode(),
        "authenticationTag": base64.b64encode(tag).decode(),
        "ciphertextMetadata": base64.b64encode(ctm).decode(),
        "ciphertextDataIntegrityValue": base64.b64encode(digest).decode(),
    }
    answer.update(overrides)
    return {name: value for name, value in answer.items() if value is not None}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_consistent_encrypt_answer_is_accepted_with_its_metadata(
    fake: FakeProxy, plain: XksConnector
) -> None:
    fake.behaviour = Behaviour(200, json_body(_encrypt_answer()))
    result = _call(plain, "plain.test", "encrypt")
    assert result == ProxyCiphertext(b"v" * 12, b"g" * 16, b"x" * len(PLAINTEXT), b"key_version=1")
    _, _, body = fake.requests[-1]
    sent = json.loads(body)
    assert sent["ciphertextDataIntegrityValueAlgorithm"] == "SHA_256"
    assert sent["encryptionAlgorithm"] == "AES_GCM"
    assert base64.b64decode(sent["plaintext"]) == PLAINTEXT
    assert base64.b64decode(sent["additionalAuthenticatedData"]) == AAD
    assert sent["requestMetadata"] == {
        "awsPrincipalArn": META.aws_principal_arn,
        "kmsOperation": "Encrypt",
        "kmsRequestId": "req-1",
        "kmsKeyArn": KEY_ARN,
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"ciphertextDataIntegrityValue": _b64(b"\0" * 32)},  # CDIV mismatch
        {"ciphertextDataIntegrityValue": None},  # asked for, not given
        {"ciphertextMetadata": None},  # the CDIV covered metadata the answer dropped
        {"ciphertext": _b64(b"x" * (len(PLAINTEXT) - 1))},  # not the plaintext's length
        {"initializationVector": _b64(b"v" * 13)},
        {"authenticationTag": _b64(b"g" * 15)},
        {"ciphertextMetadata": _b64(b"m" * 21)},
        {"ciphertext": _b64(b"x" * len(PLAINTEXT)).replace("+", "-")[:-2] + "-_"},  # url-safe
        {"initializationVector": "dnZ2dnZ2dnZ2dnZ2"[:-1]},  # bad padding
        {"authenticationTag": 16},
        {"ciphertext": None},
    ],
)
def test_encrypt_answers_failing_the_checks_are_malformed(
    fake: FakeProxy, plain: XksConnector, overrides: dict[str, Any]
) -> None:
    fake.behaviour = Behaviour(200, json_body(_encrypt_answer(**overrides)))
    error = _failure(plain, "plain.test", "encrypt")
    assert error.outcome is KeyOutcome.MALFORMED
    assert error.to_service_error(False).message == CANNOT_INTERPRET


@pytest.mark.parametrize(
    "answer",
    [
        {"plaintext": _b64(b"p" * 59)},
        {"plaintext": "not base64!"},
        {},
    ],
)
def test_decrypt_answers_failing_the_checks_are_malformed(
    fake: FakeProxy, plain: XksConnector, answer: dict[str, Any]
) -> None:
    fake.behaviour = Behaviour(200, json_body(answer))
    assert _failure(plain, "plain.test", "decrypt").outcome is KeyOutcome.MALFORMED


def test_decrypt_sends_the_blob_and_returns_the_plaintext(
    fake: FakeProxy, plain: XksConnector
) -> None:
    fake.behaviour = Behaviour(200, json_body({"plaintext": _b64(b"p" * 60)}))
    assert _call(plain, "plain.test", "decrypt") == b"p" * 60
    path, _, body = fake.requests[-1]
    assert path == f"{PATH}/keys/key-1/decrypt"
    sent = json.loads(body)
    assert "ciphertextMetadata" not in sent  # the encrypt answer had none
    assert base64.b64decode(sent["initializationVector"]) == BLOB.iv
    assert base64.b64decode(sent["authenticationTag"]) == BLOB.tag
    assert base64.b64decode(sent["ciphertext"]) == BLOB.ciphertext


GOOD_METADATA = {"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"}


@pytest.mark.parametrize(
    "answer",
    [
        {"keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"},
        {**GOOD_METADATA, "keyUsage": ["ENCRYPT", "DECRYPT", *["SIGN"] * 9]},
        {**GOOD_METADATA, "keyUsage": "ENCRYPT,DECRYPT"},
        {**GOOD_METADATA, "keyUsage": ["ENCRYPT", "DECRYPT", 7]},
        {**GOOD_METADATA, "keyStatus": None},
        {**GOOD_METADATA, "keySpec": 256},
    ],
)
def test_metadata_answers_breaking_the_schema_are_malformed(
    fake: FakeProxy, plain: XksConnector, answer: dict[str, Any]
) -> None:
    fake.behaviour = Behaviour(200, json_body(answer))
    error = _failure(plain, "plain.test", "metadata")
    assert error.outcome is KeyOutcome.MALFORMED
    assert error.to_service_error(True).code == STORE


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"keySpec": "AES_128"},
            "The key spec of the external key must be AES_256. The key spec of specified"
            " external key is AES_128.",
        ),
        (
            {"keyUsage": ["ENCRYPT", "SIGN"]},
            "The key usage of the external key must include ENCRYPT and DECRYPT. The key use of"
            " specified external key is [ENCRYPT, SIGN].",
        ),
        (
            {"keyStatus": "DISABLED"},
            "The status of the external key must be ENABLED. The status of specified external"
            " key is DISABLED.",
        ),
    ],
)
def test_an_unusable_external_key_is_an_invalid_configuration(
    fake: FakeProxy, plain: XksConnector, changes: dict[str, Any], message: str
) -> None:
    fake.behaviour = Behaviour(200, json_body({**GOOD_METADATA, **changes}))
    error = _failure(plain, "plain.test", "metadata")
    assert error.outcome is KeyOutcome.KEY_MISCONFIGURED
    service_error = error.to_service_error(for_create=True)
    assert (service_error.code, service_error.message) == (KEY_CONFIG, message)
    path, _, body = fake.requests[-1]
    assert path == f"{PATH}/keys/key-1/metadata"
    assert json.loads(body) == {
        "requestMetadata": {
            "awsPrincipalArn": CREATE_META.aws_principal_arn,
            "kmsOperation": "CreateKey",
            "kmsRequestId": "req-2",
        }
    }


def test_a_usable_external_key_returns_its_metadata(fake: FakeProxy, plain: XksConnector) -> None:
    fake.behaviour = Behaviour(
        200, json_body({**GOOD_METADATA, "keyUsage": ["DECRYPT", "ENCRYPT"]})
    )
    metadata = _call(plain, "plain.test", "metadata")
    assert (metadata.key_spec, metadata.key_usage, metadata.key_status) == (
        "AES_256",
        ("DECRYPT", "ENCRYPT"),
        "ENABLED",
    )


def test_refused_and_unmapped_proxies_are_unreachable(tmp_path: Path) -> None:
    address = closed_port_address()
    connector = XksConnector(_settings({"plain.test": address}, system_dns=False), ())
    for host in ("plain.test", "unmapped.test"):
        for operation in ("metadata", "encrypt", "decrypt"):
            error = _failure(connector, host, operation)
            assert error.outcome is KeyOutcome.NOT_REACHABLE
            assert error.to_service_error(True).message == UNREACHABLE
            assert error.to_service_error(False).code == "KMSInvalidStateException"
    assert address in _failure(connector, "plain.test", "encrypt").cause


@pytest.mark.parametrize("case", ["untrusted", "wrongname", "plain-to-tls"])
def test_tls_failures_are_told_apart(tmp_path: Path, case: str) -> None:
    tls = Tls.create(tmp_path)
    context = {
        "untrusted": untrusted_context("proxy.test"),
        "wrongname": tls.server_context("someone-else.test"),
        "plain-to-tls": tls.server_context("proxy.test"),
    }[case]
    server = FakeProxy(Behaviour(), context)
    try:
        host = "plainproxy.test" if case == "plain-to-tls" else "proxy.test"
        connector = XksConnector(_settings({host: server.address}, tls), ())
        error = _failure(connector, host, "encrypt")
    finally:
        server.close()
    if case == "plain-to-tls":
        # HTTP to a TLS port: the server resets the connection, like a refusal (requests says
        # ConnectionError there too, xks-proxy.md §2.2).
        assert error.outcome is KeyOutcome.NOT_REACHABLE
        return
    assert error.outcome is KeyOutcome.INVALID_TLS
    assert error.to_service_error(True).message == BAD_TLS
    assert error.to_service_error(False).message == BAD_TLS


def test_no_answer_in_time_is_tried_exactly_twice(fake: FakeProxy, plain: XksConnector) -> None:
    fake.behaviour = Behaviour(200, json_body({"plaintext": _b64(b"p" * 60)}), delay=0.6)
    before = len(fake.requests)
    error = _failure(plain, "plain.test", "decrypt")
    assert error.outcome is KeyOutcome.TIMED_OUT
    assert (error.to_service_error(True).code, error.to_service_error(True).message) == (
        STORE,
        NO_TIMELY_ANSWER,
    )
    wait_for(lambda: len(fake.requests) - before >= 2)
    assert len(fake.requests) - before == 2


def test_a_stalled_connection_is_tried_twice_then_times_out() -> None:
    server = StallingServer()
    try:
        connector = XksConnector(_settings({"plain.test": server.address}), ())
        error = _failure(connector, "plain.test", "encrypt")
        assert error.outcome is KeyOutcome.TIMED_OUT
        wait_for(lambda: len(server._held) >= 2)
        assert len(server._held) == 2
    finally:
        server.close()


def test_retries_follow_the_configuration(fake: FakeProxy) -> None:
    fake.behaviour = Behaviour(200, json_body(GOOD_METADATA), delay=0.3)
    connector = XksConnector(_settings({"plain.test": fake.address}, retries=0, timeout_ms=100), ())
    before = len(fake.requests)
    assert _failure(connector, "plain.test", "metadata").outcome is KeyOutcome.TIMED_OUT
    wait_for(lambda: len(fake.requests) - before >= 1)
    assert len(fake.requests) - before == 1


@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        # An HTTP error is an answer: never sent again.
        (
            Script(http_response(503, error_body("DependencyTimeoutException"))),
            KeyOutcome.DEPENDENCY_TIMEOUT,
        ),
        (Script(http_response(500, error_body("InternalException"))), KeyOutcome.PROXY_INTERNAL),
        # The proxy began to answer, then stalled: a timeout, but not a network one.
        (
            Script(http_response(200, json_body(GOOD_METADATA)), stall_after=40),
            KeyOutcome.TIMED_OUT,
        ),
        # Garbage, then silence.
        (Script(b"SSH-2.0-OpenSSH\r\n", stall_after=17), KeyOutcome.TIMED_OUT),
    ],
)
def test_no_retry_after_any_response_byte(script: Script, outcome: KeyOutcome) -> None:
    server = ScriptedServer(script)
    try:
        connector = XksConnector(_settings({"plain.test": server.address}), ())
        assert _failure(connector, "plain.test", "metadata").outcome is outcome
        assert len(server.requests) == 1
        assert server.connections == 1
    finally:
        server.close()


def test_the_table_covers_every_outcome_and_only_decrypt_outcomes_lack_a_create_column() -> None:
    assert set(KEY_OUTCOMES) == set(KeyOutcome)
    for outcome, (create, crypto, _) in KEY_OUTCOMES.items():
        if outcome is KeyOutcome.KEY_MISCONFIGURED:
            assert (create, crypto) == (KEY_CONFIG, None)
            with pytest.raises(ValueError):
                to_service_error(outcome, for_create=False)
            continue
        assert crypto == "KMSInvalidStateException"
        if create is None:
            assert outcome in (KeyOutcome.INVALID_CIPHERTEXT, KeyOutcome.INNER_LAYER_INVALID)
            with pytest.raises(ValueError):
                to_service_error(outcome, for_create=True)
    inner = to_service_error(KeyOutcome.INNER_LAYER_INVALID, for_create=False)
    assert inner.message == (
        "The ciphertext that the external key store proxy submitted for decryption, or the"
        " encryption context, is corrupted, missing, or otherwise invalid."
    )


def test_the_integrity_value_matches_the_specs_worked_example() -> None:
    # Proxy API spec v1.0.3, Encrypt response example: the same vector the proxy's tests use.
    value = integrity_value(
        b"project=nile,department=marketing",
        b"key_version=1",
        base64.b64decode("HMrlRw85cAJUd5Ax"),
        base64.b64decode("ghxkK1txeDNn3q8Y"),
        base64.b64decode("vBxN2ncH1oEkR8WVXpmyYQ=="),
    )
    assert base64.b64encode(value).decode() == "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="
