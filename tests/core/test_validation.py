"""Server-side validation from the botocore model, in AWS's ValidationException wording."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmscks.api.model import load_service_model
from kmscks.api.validation import InputValidator
from kmscks.errors import ServiceError
from tests.helpers.clients import VALID_SECRET, kms_client, xks_params
from tests.helpers.server import ServerProcess

VALIDATOR = InputValidator(load_service_model("kms"))


def message_for(operation: str, params: dict[str, Any]) -> str:
    with pytest.raises(ServiceError) as raised:
        VALIDATOR.for_operation(operation)(params)
    assert raised.value.code == "ValidationException"
    return raised.value.message


def test_integer_range_wording() -> None:
    assert message_for("DescribeCustomKeyStores", {"Limit": 5000}) == (
        "1 validation error detected: Value '5000' at 'limit' failed to satisfy constraint:"
        " Member must have value less than or equal to 1000"
    )


def test_required_members_are_named_as_null() -> None:
    assert message_for("ConnectCustomKeyStore", {}) == (
        "1 validation error detected: Value null at 'customKeyStoreId' failed to satisfy"
        " constraint: Member must not be null"
    )


def test_several_errors_are_counted_and_joined() -> None:
    message = message_for(
        "CreateCustomKeyStore",
        {
            "CustomKeyStoreName": "",
            "CustomKeyStoreType": "BOGUS",
            "CloudHsmClusterId": "cluster-1a23b4cdefg",  # the botocore example breaks the pattern
            "XksProxyUriEndpoint": "https://xks.example.com:6443",
        },
    )
    assert message.startswith("4 validation errors detected: ")
    parts = message.removeprefix("4 validation errors detected: ").split("; ")
    assert parts == [
        "Value '' at 'customKeyStoreName' failed to satisfy constraint: Member must have length"
        " greater than or equal to 1",
        "Value 'cluster-1a23b4cdefg' at 'cloudHsmClusterId' failed to satisfy constraint: Member"
        " must satisfy regular expression pattern: cluster-[2-7a-zA-Z]{11,16}",
        "Value 'BOGUS' at 'customKeyStoreType' failed to satisfy constraint: Member must satisfy"
        " enum value set: [AWS_CLOUDHSM, EXTERNAL_KEY_STORE]",
        "Value 'https://xks.example.com:6443' at 'xksProxyUriEndpoint' failed to satisfy"
        " constraint: Member must satisfy regular expression pattern: ^https://[a-zA-Z0-9.-]+$",
    ]


def test_nested_members_and_sensitive_values() -> None:
    message = message_for(
        "CreateCustomKeyStore",
        {
            "CustomKeyStoreName": "n",
            "KeyStorePassword": "short",
            "XksProxyAuthenticationCredential": {"AccessKeyId": "lowercase-is-wrong!!"},
        },
    )
    assert "short" not in message
    assert "lowercase-is-wrong" not in message
    assert (
        "Value at 'keyStorePassword' failed to satisfy constraint: Member must have length"
        " greater than or equal to 7"
    ) in message
    assert "Value null at 'xksProxyAuthenticationCredential.rawSecretAccessKey'" in message
    assert "Value at 'xksProxyAuthenticationCredential.accessKeyId' failed" in message


def test_patterns_are_full_matches() -> None:
    # The model leaves this pattern unanchored; a prefix match must not pass.
    message = message_for("DescribeCustomKeyStores", {"Marker": "ok\u0100"})
    assert (
        "at 'marker' failed to satisfy constraint: Member must satisfy regular expression"
        in message
    )
    VALIDATOR.for_operation("DescribeCustomKeyStores")({"Marker": "any latin-1 \u00ff"})


def test_limits_botocore_does_not_check_reach_the_server(
    server: ServerProcess, region: str
) -> None:
    kms = kms_client(server.url, region)
    long_name = "n" * 257
    with pytest.raises(ClientError) as raised:
        kms.create_custom_key_store(**{**xks_params("x"), "CustomKeyStoreName": long_name})
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_a_bad_secret_is_never_echoed(server: ServerProcess, region: str) -> None:
    kms = kms_client(server.url, region)
    params = xks_params("echo")
    params["XksProxyAuthenticationCredential"] = {
        "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
        "RawSecretAccessKey": VALID_SECRET + "!!!",
    }
    with pytest.raises(ClientError) as raised:
        kms.create_custom_key_store(**params)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert VALID_SECRET not in raised.value.response["Error"]["Message"]
