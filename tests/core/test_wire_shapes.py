"""Blob, map and boolean members in the model-driven validator and serializer: blobs are base64
on the wire and `bytes` for the service, their lengths count decoded bytes, maps are checked in
AWS's wording, and what the serializer writes botocore's parser reads back."""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser

from kmscks.api.model import load_service_model
from kmscks.api.serialize import OutputSerializer
from kmscks.api.validation import InputValidator
from kmscks.errors import ServiceError

KMS = InputValidator(load_service_model("kms"))
CLOUDHSM = InputValidator(load_service_model("cloudhsmv2"))
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def refused(validator: InputValidator, operation: str, params: dict[str, Any]) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        validator.for_operation(operation)(params)
    return raised.value


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_blob_reaches_the_service_decoded() -> None:
    params = {"KeyId": KEY_ID, "Plaintext": b64(b"\x00secret\xff"), "DryRun": True}
    KMS.for_operation("Encrypt")(params)
    assert params == {"KeyId": KEY_ID, "Plaintext": b"\x00secret\xff", "DryRun": True}


def test_blob_lengths_count_decoded_bytes_and_a_sensitive_one_is_not_echoed() -> None:
    KMS.for_operation("Encrypt")({"KeyId": KEY_ID, "Plaintext": b64(b"x" * 4096)})
    error = refused(KMS, "Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"x" * 4097)})
    assert (error.code, error.message) == (
        "ValidationException",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint:"
        " Member must have length less than or equal to 4096",
    )


def test_an_empty_blob_is_echoed_as_aws_echoes_it() -> None:
    error = refused(KMS, "Decrypt", {"CiphertextBlob": ""})
    assert error.message == (
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at"
        " 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than"
        " or equal to 1"
    )


@pytest.mark.parametrize("text", ["not base64!", "QUJDRA", 7])
def test_a_blob_that_is_not_base64_text_is_a_serialization_error(text: Any) -> None:
    error = refused(KMS, "Encrypt", {"KeyId": KEY_ID, "Plaintext": text})
    assert error.code == "SerializationException"
    assert str(text) not in error.message  # the plaintext is not echoed


def test_blob_and_other_problems_share_one_message() -> None:
    error = refused(KMS, "Encrypt", {"KeyId": "", "Plaintext": b64(b"")})
    assert error.message.startswith("2 validation errors detected: ")
    assert "Value at 'plaintext' failed" in error.message
    assert "Value '' at 'keyId' failed" in error.message


def test_operations_without_blobs_have_no_blob_pass() -> None:
    compiler = KMS._compiler
    assert compiler.decoder("DescribeCustomKeyStoresRequest") is None
    assert compiler.decoder("CreateCustomKeyStoreRequest") is None
    assert compiler.decoder("EncryptRequest") is not None


def test_booleans_must_be_json_booleans() -> None:
    KMS.for_operation("Encrypt")({"KeyId": KEY_ID, "Plaintext": b64(b"a"), "DryRun": False})
    error = refused(KMS, "Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"a"), "DryRun": "true"})
    assert error.code == "SerializationException"


def test_map_keys_are_checked_against_every_constraint_of_the_key_shape() -> None:
    error = refused(CLOUDHSM, "DescribeClusters", {"Filters": {"bad key": ["x"], "ok": []}})
    assert error.message == (
        "1 validation error detected: Value '{bad key=[x], ok=[]}' at 'filters' failed to"
        " satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular"
        " expression pattern: [a-zA-Z0-9_-]+]"
    )


def test_a_map_counts_its_entries() -> None:
    filters: dict[str, list[str]] = {f"f{index}": [] for index in range(31)}
    error = refused(CLOUDHSM, "DescribeClusters", {"Filters": filters})
    assert error.message.endswith(
        "at 'filters' failed to satisfy constraint: Member must have length less than or"
        " equal to 30"
    )


def test_map_values_are_checked_and_null_is_refused() -> None:
    KMS.for_operation("Encrypt")(
        {"KeyId": KEY_ID, "Plaintext": b64(b"a"), "EncryptionContext": {"a": "b", "é": ""}}
    )
    error = refused(
        KMS, "Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"a"), "EncryptionContext": {"a": None}}
    )
    assert error.message == (
        "1 validation error detected: Value '{a=null}' at 'encryptionContext' failed to satisfy"
        " constraint: Map value must satisfy constraint: [Member must not be null]"
    )
    error = refused(
        KMS, "Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(b"a"), "EncryptionContext": {"a": 1}}
    )
    assert error.code == "SerializationException"


def test_blobs_go_out_as_base64_that_botocore_reads_back() -> None:
    serializer = OutputSerializer(load_service_model("kms"))
    result = {
        "CiphertextBlob": b"\x00\x01\xfe\xff" * 10,
        "KeyId": f"arn:aws:kms:us-east-1:000000000000:key/{KEY_ID}",
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }
    body = json.dumps(serializer.for_operation("Encrypt")(result)).encode()
    model = botocore.session.get_session().get_service_model("kms")
    parsed = create_parser("json").parse(
        {"status_code": 200, "headers": {}, "body": body},
        model.operation_model("Encrypt").output_shape,
    )
    assert parsed["CiphertextBlob"] == result["CiphertextBlob"]
    rotation = serializer.for_operation("GetKeyRotationStatus")(
        {"KeyRotationEnabled": True, "KeyId": KEY_ID}
    )
    assert rotation == {"KeyRotationEnabled": True, "KeyId": KEY_ID}
