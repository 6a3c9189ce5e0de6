"""Each operation and each error through three real SigV4 signers, as conformance tools do.

curl --aws-sigv4 (what AWS's bash test client uses), botocore's SigV4Auth and
requests-aws4auth all sign different header sets; the proxy must accept every one of them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.xksproxy.xks_helpers import AKID, SECRET, SIGNERS, Signer, b64, metadata_for


@pytest.fixture(params=sorted(SIGNERS))
def signer(request: pytest.FixtureRequest, shared_proxy) -> Iterator[Signer]:
    signer = SIGNERS[request.param](str(shared_proxy.tls.ca_path))
    yield signer
    signer.close()


def _body(operation: str, **fields) -> dict:
    return {"requestMetadata": metadata_for(operation), **fields}


def test_all_operations(signer, shared_proxy, backend):
    base = shared_proxy.base(backend)
    health = signer.post(base + "/health", _body("health"))
    assert health.status == 200 and health.body["ekmFleetDetails"][0]["healthStatus"] == "ACTIVE"
    metadata = signer.post(base + "/keys/foo/metadata", _body("metadata"))
    assert metadata.body["keySpec"] == "AES_256"
    aad = b"project=nile,department=marketing"
    sealed = signer.post(
        base + "/keys/with-metadata/encrypt",
        _body(
            "encrypt",
            plaintext=b64(b"Hello World!"),
            additionalAuthenticatedData=b64(aad),
            encryptionAlgorithm="AES_GCM",
            ciphertextDataIntegrityValueAlgorithm="SHA_256",
        ),
    )
    assert sealed.status == 200, sealed.body
    assert set(sealed.body) == {
        "ciphertext",
        "initializationVector",
        "authenticationTag",
        "ciphertextMetadata",
        "ciphertextDataIntegrityValue",
    }
    fields = {k: v for k, v in sealed.body.items() if k != "ciphertextDataIntegrityValue"}
    plain = signer.post(
        base + "/keys/with-metadata/decrypt",
        _body(
            "decrypt", additionalAuthenticatedData=b64(aad), encryptionAlgorithm="AES_GCM", **fields
        ),
    )
    assert plain.status == 200, plain.body
    assert base64.b64decode(plain.body["plaintext"]) == b"Hello World!"


ENCRYPT = {"plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"}
BAD_DECRYPT = {
    "ciphertext": b64(b"abc"),
    "initializationVector": b64(bytes(12)),
    "authenticationTag": b64(bytes(16)),
    "encryptionAlgorithm": "AES_GCM",
}

# (path under the base, body, expected status, expected errorName)
ERROR_CASES = {
    "unknown key": ("/keys/nope/metadata", _body("metadata"), 404, "KeyNotFoundException"),
    "unknown operation": ("/keys/foo/sign", _body("metadata"), 404, "InvalidUriPathException"),
    "empty metadata on health": ("/health", {"requestMetadata": {}}, 400, "ValidationException"),
    "no metadata on health": ("/health", {}, 400, "ValidationException"),
    "missing plaintext": (
        "/keys/foo/encrypt",
        _body("encrypt", encryptionAlgorithm="AES_GCM"),
        400,
        "ValidationException",
    ),
    "bad base64": (
        "/keys/foo/encrypt",
        _body("encrypt", plaintext="***", encryptionAlgorithm="AES_GCM"),
        400,
        "ValidationException",
    ),
    "wrong algorithm": (
        "/keys/foo/encrypt",
        _body("encrypt", plaintext="SGk=", encryptionAlgorithm="AES_CCM"),
        400,
        "ValidationException",
    ),
    "bad json": ("/health", b"{not json", 400, "ValidationException"),
    "tampered ciphertext": (
        "/keys/foo/decrypt",
        _body("decrypt", **BAD_DECRYPT),
        400,
        "InvalidCiphertextException",
    ),
    "encrypt-only with integrity value": (
        "/keys/enc-only/encrypt",
        _body("encrypt", ciphertextDataIntegrityValueAlgorithm="SHA_256", **ENCRYPT),
        400,
        "InvalidKeyUsageException",
    ),
    "decrypt-only encrypting": (
        "/keys/dec-only/encrypt",
        _body("encrypt", **ENCRYPT),
        400,
        "InvalidKeyUsageException",
    ),
    "disabled key": (
        "/keys/disabled/encrypt",
        _body("encrypt", **ENCRYPT),
        400,
        "InvalidStateException",
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_errors(signer, shared_proxy, case):
    path, body, status, name = ERROR_CASES[case]
    reply = signer.post(shared_proxy.base("software") + path, body)
    assert (reply.status, reply.error) == (status, name), reply.raw
    assert set(reply.body) <= {"errorName", "errorMessage"}


def test_unknown_prefix_is_invalid_uri_path(signer, shared_proxy):
    # The AWS test client appends "/invalid" to the prefix.
    url = f"{shared_proxy.proxy.url}/software/invalid/kms/xks/v1/health"
    reply = signer.post(url, _body("health"))
    assert (reply.status, reply.error) == (404, "InvalidUriPathException")


@pytest.mark.parametrize(
    ("akid", "secret", "region"),
    [
        ("AKIDUNKNOWNUNKNOWN22", SECRET, "us-east-1"),
        (AKID, SECRET[:-2] + "A=", "us-east-1"),
        (AKID, SECRET, "eu-west-1"),
    ],
    ids=["unknown-key-id", "wrong-secret", "wrong-region"],
)
def test_bad_credentials_are_authentication_failed(signer, shared_proxy, akid, secret, region):
    for path, body in [
        ("/health", _body("health")),
        ("/keys/foo/encrypt", _body("encrypt", **ENCRYPT)),
    ]:
        reply = signer.post(
            shared_proxy.base("software") + path, body, akid=akid, secret=secret, region=region
        )
        assert (reply.status, reply.error) == (401, "AuthenticationFailedException")


def test_large_plaintext_and_aad(signer, shared_proxy, backend):
    # The AWS test client's case: 4 KiB plaintext, 8 KiB AAD (curl may send Expect: 100-continue).
    base = shared_proxy.base(backend)
    plaintext, aad = bytes(range(256)) * 17, bytes(8192)
    sealed = signer.post(
        base + "/keys/foo/encrypt",
        _body(
            "encrypt",
            plaintext=b64(plaintext[:4300]),
            additionalAuthenticatedData=b64(aad),
            encryptionAlgorithm="AES_GCM",
        ),
    )
    assert sealed.status == 200, sealed.body
    plain = signer.post(
        base + "/keys/foo/decrypt",
        _body(
            "decrypt",
            additionalAuthenticatedData=b64(aad),
            encryptionAlgorithm="AES_GCM",
            **sealed.body,
        ),
    )
    assert base64.b64decode(plain.body["plaintext"]) == plaintext[:4300]
