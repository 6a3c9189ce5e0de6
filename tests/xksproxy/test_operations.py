"""The four XKS operations, the same tests for both backends (software and SoftHSM2 PKCS#11)."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from tests.xksproxy.xks_helpers import b64, metadata_for


def _encrypt(call, key_id="foo", plaintext=b"Hello World!", aad=b"", **extra):
    fields = {"plaintext": b64(plaintext), "encryptionAlgorithm": "AES_GCM", **extra}
    if aad:
        fields["additionalAuthenticatedData"] = b64(aad)
    reply = call("encrypt", key_id, **fields)
    assert reply.status == 200, reply.body
    return reply.body


def _decrypt_fields(sealed, aad=b""):
    fields = {
        "ciphertext": sealed["ciphertext"],
        "initializationVector": sealed["initializationVector"],
        "authenticationTag": sealed["authenticationTag"],
        "encryptionAlgorithm": "AES_GCM",
    }
    if "ciphertextMetadata" in sealed:
        fields["ciphertextMetadata"] = sealed["ciphertextMetadata"]
    if aad:
        fields["additionalAuthenticatedData"] = b64(aad)
    return fields


def test_health_reports_the_real_backend(call, backend):
    reply = call("health")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["xksProxyFleetSize"] == 1
    assert body["xksProxyVendor"] == "cks"
    assert body["xksProxyModel"].startswith("cks-xks-proxy")
    [ekm] = body["ekmFleetDetails"]
    assert ekm["healthStatus"] == "ACTIVE"
    if backend == "pkcs11":
        assert body["ekmVendor"] == "SoftHSM project"
        assert ekm["id"] == "cks-test"
        assert ekm["model"].startswith("SoftHSM v2 serial ")
        assert "firmware 2." in ekm["model"]
    else:
        assert body["ekmVendor"] == "cks"
        assert "cryptography" in ekm["model"]


def test_metadata(call):
    reply = call("metadata", "foo")
    assert reply.status == 200
    assert reply.body == {
        "keySpec": "AES_256",
        "keyUsage": ["ENCRYPT", "DECRYPT"],
        "keyStatus": "ENABLED",
    }
    assert call("metadata", "enc-only").body["keyUsage"] == ["ENCRYPT"]
    assert call("metadata", "no-usage").body["keyUsage"] == []
    assert call("metadata", "disabled").body["keyStatus"] == "DISABLED"


def test_unknown_key_is_key_not_found(call):
    for operation in ("metadata", "encrypt", "decrypt"):
        fields = {"plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"}
        if operation == "decrypt":
            fields = _decrypt_fields(
                {
                    "ciphertext": b64(b"x"),
                    "initializationVector": b64(bytes(12)),
                    "authenticationTag": b64(bytes(16)),
                }
            )
        reply = call(operation, "nope", **fields)
        assert (reply.status, reply.error) == (404, "KeyNotFoundException"), operation


@pytest.mark.parametrize("aad", [b"", b"project=nile,department=marketing"])
def test_round_trip(call, aad):
    plaintext = os.urandom(32)
    sealed = _encrypt(call, plaintext=plaintext, aad=aad)
    assert len(base64.b64decode(sealed["ciphertext"])) == len(plaintext)
    assert len(base64.b64decode(sealed["initializationVector"])) == 12
    assert len(base64.b64decode(sealed["authenticationTag"])) == 16
    assert "ciphertextMetadata" not in sealed
    assert "ciphertextDataIntegrityValue" not in sealed
    reply = call("decrypt", "foo", **_decrypt_fields(sealed, aad))
    assert reply.status == 200, reply.body
    assert base64.b64decode(reply.body["plaintext"]) == plaintext


def test_fresh_iv_each_time(call):
    ivs = {_encrypt(call)["initializationVector"] for _ in range(5)}
    assert len(ivs) == 5


def test_largest_required_sizes(call):
    plaintext, aad = os.urandom(4300), os.urandom(8192)
    sealed = _encrypt(
        call, plaintext=plaintext, aad=aad, ciphertextDataIntegrityValueAlgorithm="SHA_256"
    )
    reply = call("decrypt", "foo", **_decrypt_fields(sealed, aad))
    assert base64.b64decode(reply.body["plaintext"]) == plaintext


def test_integrity_value_and_metadata(call):
    aad = b"project=nile,department=marketing"
    sealed = _encrypt(
        call, "with-metadata", aad=aad, ciphertextDataIntegrityValueAlgorithm="SHA_256"
    )
    metadata = base64.b64decode(sealed["ciphertextMetadata"])
    assert metadata == b"key_version=1"
    parts = [metadata] + [
        base64.b64decode(sealed[name])
        for name in ("initializationVector", "ciphertext", "authenticationTag")
    ]
    expected = hashlib.sha256(aad + b"".join(parts)).digest()
    assert base64.b64decode(sealed["ciphertextDataIntegrityValue"]) == expected
    reply = call("decrypt", "with-metadata", **_decrypt_fields(sealed, aad))
    assert reply.status == 200, reply.body
    # Metadata is bound into the tag: dropping or changing it breaks decryption.
    fields = _decrypt_fields(sealed, aad)
    del fields["ciphertextMetadata"]
    assert call("decrypt", "with-metadata", **fields).error == "InvalidCiphertextException"
    fields["ciphertextMetadata"] = b64(b"key_version=2")
    assert call("decrypt", "with-metadata", **fields).error == "InvalidCiphertextException"


def _flip(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 1
    return b64(bytes(raw))


@pytest.mark.parametrize(
    "tamper",
    ["ciphertext", "initializationVector", "authenticationTag", "aad", "no-aad", "metadata"],
)
def test_tampering_is_invalid_ciphertext(call, tamper):
    aad = b"context"
    sealed = _encrypt(call, "with-metadata", plaintext=b"secret data", aad=aad)
    fields = _decrypt_fields(sealed, aad)
    if tamper in ("ciphertext", "initializationVector", "authenticationTag"):
        fields[tamper] = _flip(fields[tamper])
    elif tamper == "aad":
        fields["additionalAuthenticatedData"] = b64(b"contexT")
    elif tamper == "no-aad":
        del fields["additionalAuthenticatedData"]
    else:
        fields["ciphertextMetadata"] = _flip(fields["ciphertextMetadata"])
    reply = call("decrypt", "with-metadata", **fields)
    assert (reply.status, reply.error) == (400, "InvalidCiphertextException")


def test_key_usage_is_enforced(call):
    # Encrypt-only: encrypt works, but not with an integrity value (no self-check decrypt).
    sealed = _encrypt(call, "enc-only")
    reply = call(
        "encrypt",
        "enc-only",
        plaintext=b64(b"x"),
        encryptionAlgorithm="AES_GCM",
        ciphertextDataIntegrityValueAlgorithm="SHA_256",
    )
    assert (reply.status, reply.error) == (400, "InvalidKeyUsageException")
    assert (
        call("decrypt", "enc-only", **_decrypt_fields(sealed)).error == "InvalidKeyUsageException"
    )
    # Decrypt-only and no-usage keys refuse encryption.
    for key_id in ("dec-only", "no-usage"):
        reply = call("encrypt", key_id, plaintext=b64(b"x"), encryptionAlgorithm="AES_GCM")
        assert (reply.status, reply.error) == (400, "InvalidKeyUsageException"), key_id
    assert (
        call("decrypt", "no-usage", **_decrypt_fields(sealed)).error == "InvalidKeyUsageException"
    )


def test_decrypt_only_key_decrypts(call):
    # "foo-dec-only" is the same key material as "foo", limited to DECRYPT by the config.
    sealed = _encrypt(call, "foo")
    reply = call("decrypt", "foo-dec-only", **_decrypt_fields(sealed))
    assert reply.status == 200, reply.body
    assert base64.b64decode(reply.body["plaintext"]) == b"Hello World!"
    reply = call("encrypt", "foo-dec-only", plaintext=b64(b"x"), encryptionAlgorithm="AES_GCM")
    assert reply.error == "InvalidKeyUsageException"


def test_disabled_key_is_invalid_state(call):
    reply = call("encrypt", "disabled", plaintext=b64(b"x"), encryptionAlgorithm="AES_GCM")
    assert (reply.status, reply.error) == (400, "InvalidStateException")


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"encryptionAlgorithm": "AES_GCM"}, "missing plaintext"),
        ({"plaintext": "not base64!", "encryptionAlgorithm": "AES_GCM"}, "bad base64"),
        ({"plaintext": "SGk_", "encryptionAlgorithm": "AES_GCM"}, "url-safe base64"),
        ({"plaintext": 12, "encryptionAlgorithm": "AES_GCM"}, "plaintext not a string"),
        ({"plaintext": "SGk=", "encryptionAlgorithm": "AES_CBC"}, "wrong algorithm"),
        ({"plaintext": "SGk="}, "missing algorithm"),
        (
            {
                "plaintext": "SGk=",
                "encryptionAlgorithm": "AES_GCM",
                "ciphertextDataIntegrityValueAlgorithm": "MD5",
            },
            "wrong integrity algorithm",
        ),
        (
            {
                "plaintext": "SGk=",
                "encryptionAlgorithm": "AES_GCM",
                "additionalAuthenticatedData": "%%%",
            },
            "bad aad",
        ),
        ({"plaintext": b64(bytes(20000)), "encryptionAlgorithm": "AES_GCM"}, "too long"),
    ],
)
def test_encrypt_validation(call, fields, why):
    reply = call("encrypt", "foo", **fields)
    assert (reply.status, reply.error) == (400, "ValidationException"), why


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ciphertext": None}, "missing ciphertext"),
        ({"initializationVector": None}, "missing iv"),
        ({"authenticationTag": None}, "missing tag"),
        ({"initializationVector": b64(bytes(8))}, "short iv"),
        ({"authenticationTag": b64(bytes(12))}, "short tag"),
        ({"encryptionAlgorithm": "RSA"}, "wrong algorithm"),
        ({"ciphertext": "@@"}, "bad base64"),
    ],
)
def test_decrypt_validation(call, change, why):
    fields = _decrypt_fields(_encrypt(call))
    for name, value in change.items():
        if value is None:
            del fields[name]
        else:
            fields[name] = value
    reply = call("decrypt", "foo", **fields)
    assert (reply.status, reply.error) == (400, "ValidationException"), why


@pytest.mark.parametrize("operation", ["health", "metadata", "encrypt", "decrypt"])
@pytest.mark.parametrize("metadata", ["absent", "empty", "not-an-object", "missing-request-id"])
def test_request_metadata_is_required(
    call, shared_proxy, backend, botocore_signer, operation, metadata
):
    path = "/health" if operation == "health" else f"/keys/foo/{operation}"
    body: dict = {"plaintext": "SGk=", "encryptionAlgorithm": "AES_GCM"}
    if metadata == "empty":
        body["requestMetadata"] = {}
    elif metadata == "not-an-object":
        body["requestMetadata"] = "x"
    elif metadata == "missing-request-id":
        body["requestMetadata"] = {"kmsOperation": "Encrypt"}
    reply = botocore_signer.post(shared_proxy.base(backend) + path, body)
    assert (reply.status, reply.error) == (400, "ValidationException")


def test_unknown_operation_and_extra_fields_are_accepted(shared_proxy, backend, botocore_signer):
    base = shared_proxy.base(backend)
    metadata = {
        "kmsRequestId": "r",
        "kmsOperation": "SomeFutureOperation",
        "awsPrincipalArn": "p",
        "kmsKeyArn": "k",
        "kmsViaService": "ebs",
        "awsSourceVpc": "vpc-1",
        "newField": {"a": 1},
    }
    for path, extra in [
        ("/health", {}),
        ("/keys/foo/metadata", {}),
        ("/keys/foo/encrypt", {"plaintext": "SGk=", "encryptionAlgorithm": "AES_GCM"}),
    ]:
        body = {"requestMetadata": metadata, "futureTopLevel": [1, 2], **extra}
        reply = botocore_signer.post(base + path, body)
        assert reply.status == 200, (path, reply.body)


def test_backends_do_not_share_keys(shared_proxy, botocore_signer):
    if shared_proxy.token is None:
        pytest.skip("needs SoftHSM2")

    def post(backend, operation, **fields):
        body = {"requestMetadata": _meta(operation), **fields}
        return botocore_signer.post(f"{shared_proxy.base(backend)}/keys/foo/{operation}", body)

    sealed = post("software", "encrypt", plaintext=b64(b"x"), encryptionAlgorithm="AES_GCM").body
    reply = post("pkcs11", "decrypt", **_decrypt_fields(sealed))
    assert reply.error == "InvalidCiphertextException"


def _meta(operation):
    return metadata_for(operation)
