"""HTTP and SigV4 behaviour of the proxy: methods, paths, keep-alive, tampering, bad input."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterator

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.xksproxy.xks_helpers import (
    AKID,
    API,
    REGION,
    SECRET,
    SERVICE,
    Aws4AuthSigner,
    metadata_for,
)

HEALTH = {"requestMetadata": metadata_for("health")}


@pytest.fixture
def connection(shared_proxy) -> Iterator[http.client.HTTPSConnection]:
    context = ssl.create_default_context(cafile=str(shared_proxy.tls.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", shared_proxy.proxy.port, context=context)
    yield conn
    conn.close()


def _signed(url: str, body: bytes, **headers: str) -> dict[str, str]:
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json", **headers}
    )
    SigV4Auth(Credentials(AKID, SECRET), SERVICE, REGION).add_auth(request)
    return dict(request.headers)


def _exchange(conn, method, path, body=b"", headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.getheader("Content-Type"), response.read()


@pytest.mark.parametrize(
    "path", ["/health", "/keys/foo/metadata", "/keys/foo/encrypt", "/keys/foo/decrypt"]
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(connection, method, path):
    status, _, body = _exchange(connection, method, f"/software{API}{path}")
    assert status == 405
    assert json.loads(body)["errorName"] == "MethodNotAllowed"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/kms/xks/v1/health",  # no such store: the prefixes are /software and /pkcs11
        f"/software{API}",
        f"/software{API}/healthz",
        f"/software{API}/keys//encrypt",
        f"/software{API}/keys/foo",
        f"/software{API}/keys/foo/encrypt/more",
        "/softwarex/kms/xks/v1/health",
    ],
)
def test_unknown_paths_are_404(connection, path):
    status, content_type, body = _exchange(connection, "POST", path, b"{}")
    assert (status, content_type) == (404, "application/json")
    assert json.loads(body)["errorName"] == "InvalidUriPathException"


def test_ping(connection):
    assert _exchange(connection, "GET", "/ping") == (200, "text/plain", b"pong")


def test_keep_alive(connection, shared_proxy):
    url = f"{shared_proxy.proxy.url}/software{API}/health"
    body = json.dumps(HEALTH).encode()
    sockets = set()
    for _ in range(3):
        connection.request("POST", f"/software{API}/health", body, _signed(url, body))
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Connection") == "keep-alive"
        response.read()
        sockets.add(id(connection.sock))
    assert len(sockets) == 1


def test_signature_covers_body_and_signed_headers(connection, shared_proxy):
    path = f"/software{API}/health"
    url = shared_proxy.proxy.url + path
    body = json.dumps(HEALTH).encode()
    headers = _signed(url, body)
    tampered_body = body.replace(b"KmsHealthCheck", b"KmsHealthChecK")
    status, _, reply = _exchange(connection, "POST", path, tampered_body, headers)
    assert (status, json.loads(reply)["errorName"]) == (401, "AuthenticationFailedException")
    for header, value in [("Content-Type", "text/plain"), ("X-Amz-Date", "20990101T000000Z")]:
        changed = {**headers, header: value}
        status, _, reply = _exchange(connection, "POST", path, body, changed)
        assert (status, json.loads(reply)["errorName"]) == (401, "AuthenticationFailedException")
    unsigned = {k: v for k, v in headers.items() if k != "Authorization"}
    status, _, reply = _exchange(connection, "POST", path, body, unsigned)
    assert status == 401
    status, _, _ = _exchange(connection, "POST", path, body, headers)
    assert status == 200


def test_path_is_signed(connection, shared_proxy):
    body = json.dumps({"requestMetadata": metadata_for("metadata")}).encode()
    headers = _signed(f"{shared_proxy.proxy.url}/software{API}/keys/foo/metadata", body)
    status, _, reply = _exchange(
        connection, "POST", f"/software{API}/keys/enc-only/metadata", body, headers
    )
    assert (status, json.loads(reply)["errorName"]) == (401, "AuthenticationFailedException")


@pytest.mark.parametrize(
    ("amz_date", "accepted"), [(-290, True), (290, True), (-330, False), (330, False)]
)
def test_five_minute_window(shared_proxy, amz_date, accepted):
    import datetime as dt

    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=amz_date)
    signer = Aws4AuthSigner(str(shared_proxy.tls.ca_path))
    try:
        reply = signer.post(
            shared_proxy.base("software") + "/health",
            HEALTH,
            amz_date=when.strftime("%Y%m%dT%H%M%SZ"),
        )
    finally:
        signer.close()
    if accepted:
        assert reply.status == 200, reply.body
    else:
        assert (reply.status, reply.error) == (401, "AuthenticationFailedException")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b"null",
        b"1",
        b'"s"',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"requestMetadata": []}',
        b'{"requestMetadata": {"kmsRequestId": 1, "kmsOperation": "x"}}',
        b'{"requestMetadata": {"kmsRequestId": "", "kmsOperation": "x"}}',
    ],
)
@pytest.mark.parametrize("operation", ["health", "encrypt"])
def test_bad_bodies_are_validation_errors(connection, shared_proxy, body, operation):
    path = f"/software{API}/health" if operation == "health" else f"/software{API}/keys/foo/encrypt"
    headers = _signed(shared_proxy.proxy.url + path, body)
    status, _, reply = _exchange(connection, "POST", path, body, headers)
    assert (status, json.loads(reply)["errorName"]) == (400, "ValidationException")


def _raw(shared_proxy, data: bytes) -> bytes:
    context = ssl.create_default_context(cafile=str(shared_proxy.tls.ca_path))
    with (
        socket.create_connection(("127.0.0.1", shared_proxy.proxy.port), timeout=5) as plain,
        context.wrap_socket(plain, server_hostname="localhost") as tls,
    ):
        tls.sendall(data)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"garbage\r\n\r\n",
        b"POST /x HTTP/2.0\r\n\r\n",
        b"POST /software/kms/xks/v1/health HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /software/kms/xks/v1/health HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
        b"POST /software/kms/xks/v1/health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /software/kms/xks/v1/health HTTP/1.1\r\nno colon here\r\n\r\n",
    ],
)
def test_malformed_http_gets_400_and_close(shared_proxy, request_bytes):
    reply = _raw(shared_proxy, request_bytes)
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in reply
    assert b"ValidationException" in reply


def test_http_1_0_closes(shared_proxy):
    reply = _raw(shared_proxy, b"GET /ping HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"pong")


def test_no_traceback_in_log(shared_proxy):
    assert "Traceback" not in shared_proxy.proxy.log()


def test_expect_100_continue(shared_proxy):
    path = f"/software{API}/health"
    body = json.dumps(HEALTH).encode()
    headers = _signed(shared_proxy.proxy.url + path, body)
    headers["Host"] = (
        f"127.0.0.1:{shared_proxy.proxy.port}"  # signed by botocore, as requests sends it
    )
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    context = ssl.create_default_context(cafile=str(shared_proxy.tls.ca_path))
    with (
        socket.create_connection(("127.0.0.1", shared_proxy.proxy.port), timeout=5) as plain,
        context.wrap_socket(plain, server_hostname="localhost") as tls,
    ):
        tls.sendall(head.encode())
        assert tls.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        tls.sendall(body)
        reply = b""
        while chunk := tls.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ")


def test_oversized_head_is_400(shared_proxy):
    reply = _raw(shared_proxy, b"POST /ping HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")
