"""AWS JSON 1.1 on the wire: botocore's serializer and parser round-trip every operation and
error, and no input, however malformed, produces a 500 or a traceback."""

from __future__ import annotations

import json
import random
from typing import Any

import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from tests.helpers.clients import xks_params
from tests.helpers.server import ServerProcess

MODEL: ServiceModel = botocore.session.get_session().get_service_model("kms")
OPERATIONS = [
    "CreateCustomKeyStore",
    "DescribeCustomKeyStores",
    "UpdateCustomKeyStore",
    "ConnectCustomKeyStore",
    "DisconnectCustomKeyStore",
    "DeleteCustomKeyStore",
]


def signed_post(
    url: str, target: str, body: bytes, region: str, headers: dict[str, str] | None = None
) -> requests.Response:
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        headers={
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.1",
            **(headers or {}),
        },
    )
    SigV4Auth(Credentials("test", "test"), "kms", region).add_auth(request)
    prepared = request.prepare()
    return requests.post(prepared.url, data=body, headers=dict(prepared.headers), timeout=10)


def call(
    server: ServerProcess, region: str, operation: str, params: dict[str, Any]
) -> tuple[requests.Response, dict[str, Any]]:
    operation_model = MODEL.operation_model(operation)
    request_dict = create_serializer("json").serialize_to_request(params, operation_model)
    response = signed_post(
        server.url, request_dict["headers"]["X-Amz-Target"], request_dict["body"], region
    )
    parsed = create_parser("json").parse(
        {
            "status_code": response.status_code,
            "headers": response.headers,
            "body": response.content,
        },
        operation_model.output_shape,
    )
    return response, parsed


def test_every_operation_round_trips_through_botocore(server: ServerProcess, region: str) -> None:
    response, parsed = call(server, region, "CreateCustomKeyStore", xks_params("wire"))
    assert response.status_code == 200
    store_id = parsed["CustomKeyStoreId"]
    assert response.headers["x-amzn-RequestId"] == parsed["ResponseMetadata"]["RequestId"]
    response, parsed = call(server, region, "DescribeCustomKeyStores", {})
    body = response.json()
    assert isinstance(body["CustomKeyStores"][0]["CreationDate"], int | float)
    assert "null" not in response.text
    assert parsed["CustomKeyStores"][0]["CustomKeyStoreId"] == store_id
    for operation, params in (
        ("UpdateCustomKeyStore", {"CustomKeyStoreId": store_id, "NewCustomKeyStoreName": "w2"}),
        ("ConnectCustomKeyStore", {"CustomKeyStoreId": store_id}),
        ("DisconnectCustomKeyStore", {"CustomKeyStoreId": store_id}),
    ):
        response, parsed = call(server, region, operation, params)
        assert (response.status_code, response.json()) == (200, {})
    response, parsed = call(server, region, "DeleteCustomKeyStore", {"CustomKeyStoreId": store_id})
    assert response.status_code == 400  # still DISCONNECTING, or deleted below
    assert parsed["Error"]["Code"] in ("CustomKeyStoreInvalidStateException",)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_errors_parse_as_modeled_exceptions(
    server: ServerProcess, region: str, operation: str
) -> None:
    params: dict[str, Any] = {"CustomKeyStoreId": "cks-00000000000000000"}
    if operation == "CreateCustomKeyStore":
        params = {"CustomKeyStoreName": "x", "CustomKeyStoreType": "BOGUS"}
    response, parsed = call(server, region, operation, params)
    assert response.status_code == 400
    expected = {
        "CreateCustomKeyStore": "ValidationException",
        "DescribeCustomKeyStores": "CustomKeyStoreNotFoundException",
    }.get(operation, "CustomKeyStoreNotFoundException")
    assert parsed["Error"]["Code"] == expected
    assert set(response.json()) == {"__type", "message"}
    assert "x-amzn-errortype" not in {name.lower() for name in response.headers}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"Limit": "ten"}', "Expected an integer at 'limit'"),
        (b'{"Limit": true}', "Expected an integer at 'limit'"),
        (b'{"CustomKeyStoreName": 5}', "Expected a string at 'customKeyStoreName'"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_serialization_errors(
    server: ServerProcess, region: str, body: bytes, message: str
) -> None:
    response = signed_post(server.url, "TrentService.DescribeCustomKeyStores", body, region)
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"
    assert message in response.json()["message"]


def test_unknown_operations(server: ServerProcess, region: str) -> None:
    for target in (
        "TrentService.Sign",  # in the model, not served
        "TrentService.Nope",
        "Other.DescribeCustomKeyStores",
        "",
    ):
        response = signed_post(server.url, target, b"{}", region)
        assert response.status_code == 400
        assert response.json()["__type"] == "UnknownOperationException"


def test_no_input_produces_a_server_error(server: ServerProcess, region: str) -> None:
    """A bounded fuzz: random JSON of random shapes and random bytes, to every operation."""
    generator = random.Random(20261128)
    values: list[Any] = [
        None,
        True,
        0,
        -1,
        2**70,
        1.5,
        "",
        "x" * 3000,
        "\u0000",
        [],
        {},
        [{}],
        {"a": 1},
    ]
    members = [
        "CustomKeyStoreName",
        "CustomKeyStoreId",
        "CustomKeyStoreType",
        "Limit",
        "Marker",
        "XksProxyUriEndpoint",
        "XksProxyUriPath",
        "XksProxyConnectivity",
        "KeyStorePassword",
        "XksProxyAuthenticationCredential",
        "NewCustomKeyStoreName",
        "CloudHsmClusterId",
        "TrustAnchorCertificate",
        "XksProxyVpcEndpointServiceName",
    ]
    for index in range(300):
        operation = generator.choice(OPERATIONS)
        if index % 5 == 0:
            body = bytes(generator.randrange(256) for _ in range(generator.randrange(40)))
        else:
            document = {
                generator.choice(members): generator.choice(values)
                for _ in range(generator.randrange(5))
            }
            body = json.dumps(document).encode()
        response = signed_post(server.url, f"TrentService.{operation}", body, region)
        assert response.status_code < 500, (operation, body, response.text)
        assert "__type" in response.json() or response.status_code == 200
        assert "Traceback" not in response.text


def test_request_ids_are_distinct_version_4_uuids() -> None:
    import uuid

    from kmscks.api.handler import _request_id

    ids = [_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
