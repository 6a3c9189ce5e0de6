"""SigV4 authentication: accepted when right, refused with AWS's errors when anything is off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmscks import sigv4
from tests.helpers.server import ServerProcess, start_cks_server

TARGET = "TrentService.DescribeCustomKeyStores"


def signed(
    url: str,
    body: bytes = b"{}",
    key: str = "test",
    secret: str = "test",
    region: str = "us-east-1",
    service: str = "kms",
) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return dict(request.prepare().headers)


def post(server: ServerProcess, headers: dict[str, str], body: bytes = b"{}") -> requests.Response:
    return requests.post(server.url + "/", data=body, headers=headers, timeout=10)


def error_type(response: requests.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["__type"])


def test_a_botocore_signed_request_is_accepted(server: ServerProcess) -> None:
    response = post(server, signed(server.url))
    assert response.status_code == 200
    assert response.json() == {"CustomKeyStores": [], "Truncated": False}


def test_missing_authentication(server: ServerProcess) -> None:
    headers = {"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"}
    assert error_type(post(server, headers)) == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request",
        "AWS4-HMAC-SHA256 Credential=test, SignedHeaders=host, Signature=00",
        "Basic dGVzdDp0ZXN0",
        "garbage",
    ],
)
def test_garbled_authorization(server: ServerProcess, authorization: str) -> None:
    headers = signed(server.url)
    headers["Authorization"] = authorization
    assert error_type(post(server, headers)) == "IncompleteSignatureException"


def test_unknown_access_key(server: ServerProcess) -> None:
    headers = signed(server.url, key="AKIDUNKNOWN", secret="whatever")
    assert error_type(post(server, headers)) == "UnrecognizedClientException"


def test_wrong_secret(server: ServerProcess) -> None:
    headers = signed(server.url, secret="not-the-secret")
    assert error_type(post(server, headers)) == "InvalidSignatureException"


def signed_at(server: ServerProcess, offset: float) -> dict[str, str]:
    """Headers signed as if the client's clock were `offset` seconds off."""
    return sigv4.sign(
        method="POST",
        host=f"127.0.0.1:{server.port}",
        path="/",
        headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
        body=b"{}",
        access_key_id="test",
        secret="test",
        region="us-east-1",
        service="kms",
        now=time.time() + offset,
    )


def test_expired_and_future_signatures(server: ServerProcess) -> None:
    for offset in (-16 * 60, 16 * 60):
        response = post(server, signed_at(server, offset))
        assert error_type(response) == "InvalidSignatureException"
        assert "Signature expired" in response.json()["message"]
    # Within 15 minutes is fine.
    assert post(server, signed_at(server, -14 * 60)).status_code == 200


def _tamper(headers: dict[str, str], name: str, change: Any) -> dict[str, str]:
    tampered = dict(headers)
    tampered[name] = change(tampered[name])
    return tampered


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ("body", "InvalidSignatureException"),
        ("target", "InvalidSignatureException"),
        ("content-type", "InvalidSignatureException"),
        ("date", "InvalidSignatureException"),
        ("signature", "InvalidSignatureException"),
        ("scope-region", "InvalidSignatureException"),
        ("scope-service", "InvalidSignatureException"),
        ("scope-date", "InvalidSignatureException"),
        ("signed-headers", "InvalidSignatureException"),
    ],
)
def test_tampering_with_any_signed_part_fails(
    server: ServerProcess, part: str, expected: str
) -> None:
    headers = signed(server.url)
    body = b"{}"
    if part == "body":
        body = b'{"Limit": 1}'
    elif part == "target":
        headers["X-Amz-Target"] = "TrentService.DeleteCustomKeyStore"
    elif part == "content-type":
        headers["Content-Type"] = "application/json"
    elif part == "date":
        headers = _tamper(
            headers, "X-Amz-Date", lambda v: v[:-3] + ("00Z" if v[-3:] != "00Z" else "01Z")
        )
    elif part == "signature":
        headers = _tamper(
            headers, "Authorization", lambda v: v[:-1] + ("0" if v[-1] != "0" else "1")
        )
    elif part == "scope-region":
        headers = _tamper(
            headers, "Authorization", lambda v: v.replace("/us-east-1/", "/us-west-2/")
        )
    elif part == "scope-service":
        headers = _tamper(headers, "Authorization", lambda v: v.replace("/kms/", "/sts/"))
    elif part == "scope-date":
        headers = _tamper(headers, "Authorization", lambda v: v.replace("/2", "/1", 1))
    elif part == "signed-headers":
        headers = _tamper(headers, "Authorization", lambda v: v.replace("content-type;", ""))
    response = post(server, headers, body)
    assert error_type(response) == expected, response.text


def test_requests_aws4auth_signatures_are_accepted(server: ServerProcess) -> None:
    from requests_aws4auth import AWS4Auth

    response = requests.post(
        server.url + "/",
        data=b"{}",
        headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
        auth=AWS4Auth("test", "test", "eu-west-1", "kms"),
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def http2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with HTTP/2 allowed (`[limits] http2 = true`; off by default)."""
    process = start_cks_server(tmp_path_factory.mktemp("http2"), "[limits]\nhttp2 = true\n")
    yield process
    process.stop()


@pytest.mark.parametrize("http_version", ["--http1.1", "--http2-prior-knowledge"])
def test_curl_aws_sigv4_is_accepted(http2_server: ServerProcess, http_version: str) -> None:
    """curl signs `host`; over HTTP/2 the server has it only as :authority, and must use that."""
    import subprocess

    from tests.conftest import require_executable

    server = http2_server

    curl = require_executable("curl")
    result = subprocess.run(
        [
            curl,
            "-s",
            http_version,
            "-w",
            "\n%{http_version}",
            "--aws-sigv4",
            "aws:amz:eu-west-1:kms",
            "--user",
            "test:test",
            "-H",
            f"X-Amz-Target: {TARGET}",
            "-H",
            "Content-Type: application/x-amz-json-1.1",
            "-d",
            "{}",
            server.url + "/",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    body, version = result.stdout.rsplit("\n", 1)
    assert version == ("2" if "http2" in http_version else "1.1")
    assert body == '{"CustomKeyStores":[],"Truncated":false}'
