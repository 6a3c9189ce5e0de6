"""A canned KMS endpoint on 127.0.0.1 for CLI tests that need exact, chosen responses.

It speaks AWS JSON 1.1 like the real service (DescribeCustomKeyStores with Limit/Marker
pagination and id/name filters, the other five operations, modelled errors, and the operations
on KMS keys from stub_kms_keys.py), records every request (target, headers, body), and can be
told to fail the next requests with a status. It
does not verify signatures (the live-server tests do that); it exists so that the same
CloudHSM-shaped, multi-page and non-ASCII data can be fed to both `aws` and `cks`.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.cli import stub_kms_keys

PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBszCCAVmgAwIBAgIUQ2FmZUJhYmVDYWZlQmFiZUNhZmVCYWJlMAoGCCqGSM49\n"
    "BAMCMBcxFTATBgNVBAMMDGNrcy10ZXN0LWNhMB4XDTI0MDEwMTAwMDAwMFoXDTM0\n"
    "-----END CERTIFICATE-----\n"
)


def sample_stores() -> list[dict[str, Any]]:
    """Five stores covering every shape: CloudHSM (with PEM), XKS public and VPC, FAILED."""
    return [
        {
            "CustomKeyStoreId": "cks-1234567890abcdef0",
            "CustomKeyStoreName": "hsm-store",
            "CloudHsmClusterId": "cluster-234abcdefABC",
            "TrustAnchorCertificate": PEM,
            "ConnectionState": "CONNECTED",
            "CreationDate": 1709631015.25,
            "CustomKeyStoreType": "AWS_CLOUDHSM",
        },
        {
            "CustomKeyStoreId": "cks-5ebd4ef395a96288e",
            "CustomKeyStoreName": "xks-public",
            "ConnectionState": "DISCONNECTED",
            "CreationDate": 1709631016,
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyConfiguration": {
                "Connectivity": "PUBLIC_ENDPOINT",
                "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
                "UriEndpoint": "https://xks.example.test",
                "UriPath": "/kms/xks/v1",
            },
        },
        {
            "CustomKeyStoreId": "cks-0aaaaaaaaaaaaaaaa",
            "CustomKeyStoreName": "Ünïcødé 名前",
            "ConnectionState": "FAILED",
            "ConnectionErrorCode": "XKS_PROXY_NOT_REACHABLE",
            "CreationDate": 1709631017.5,
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyConfiguration": {
                "Connectivity": "VPC_ENDPOINT_SERVICE",
                "AccessKeyId": "ABCDEFGHIJKLMNOPQRSU",
                "UriEndpoint": "https://xks-private.example.test",
                "UriPath": "/prefix/kms/xks/v1",
                "VpcEndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
                "VpcEndpointServiceOwner": "000000000000",
            },
        },
        {
            "CustomKeyStoreId": "cks-0bbbbbbbbbbbbbbbb",
            "CustomKeyStoreName": "hsm-two",
            "CloudHsmClusterId": "cluster-234abcdefABD",
            "TrustAnchorCertificate": PEM,
            "ConnectionState": "DISCONNECTED",
            "CreationDate": 1709631018,
            "CustomKeyStoreType": "AWS_CLOUDHSM",
        },
        {
            # Members in a different order than the model, and one the model does not know.
            "ConnectionState": "CONNECTING",
            "CustomKeyStoreName": "plain",
            "CustomKeyStoreId": "cks-0cccccccccccccccc",
            "CreationDate": 1709631019.123456,
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "SomethingNew": "ignored by the CLI",
        },
    ]


@dataclass
class StubState:
    stores: list[dict[str, Any]] = field(default_factory=sample_stores)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_statuses: list[int] = field(default_factory=list)  # consumed one per request
    repeat_marker: bool = False


def _marker(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(data)

    def _reply_raw(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        state = self.server.state
        target = self.headers.get("X-Amz-Target", "")
        state.requests.append(
            {"target": target, "path": self.path, "headers": dict(self.headers), "body": raw}
        )
        if state.fail_statuses:
            status = state.fail_statuses.pop(0)
            self._reply(status, {"__type": "KMSInternalException", "message": "stub failure"})
            return
        params = json.loads(raw or b"{}")
        operation = target.rpartition(".")[2]
        name = str(params.get("CustomKeyStoreName", ""))
        if name.startswith("raw-error:"):
            # "raw-error:<status>:<body>" answers with exactly that, to test error parsing.
            _, raw_status, body = name.split(":", 2)
            self._reply_raw(int(raw_status), body.encode())
            return
        if operation == "DescribeCustomKeyStores":
            self._describe(params)
        elif operation == "CreateCustomKeyStore":
            self._reply(200, {"CustomKeyStoreId": "cks-0ddddddddddddddddd"[:21]})
        elif operation in (
            "UpdateCustomKeyStore",
            "ConnectCustomKeyStore",
            "DisconnectCustomKeyStore",
            "DeleteCustomKeyStore",
        ):
            if params.get("CustomKeyStoreId") == "cks-missing":
                self._reply(
                    400,
                    {"__type": "CustomKeyStoreNotFoundException", "message": "no such store"},
                )
            else:
                self._reply(200, {})
        else:
            answer = stub_kms_keys.answer(operation, params)
            if answer is None:
                self._reply(400, {"__type": "UnknownOperationException"})
            elif isinstance(answer[0], str):
                self._page(params, answer[0], answer[1])
            else:
                self._reply(answer[0], answer[1])

    def _describe(self, params: dict[str, Any]) -> None:
        stores = self.server.state.stores
        if "CustomKeyStoreId" in params or "CustomKeyStoreName" in params:
            stores = [
                s
                for s in stores
                if s["CustomKeyStoreId"] == params.get("CustomKeyStoreId", s["CustomKeyStoreId"])
                and s["CustomKeyStoreName"]
                == params.get("CustomKeyStoreName", s["CustomKeyStoreName"])
            ]
            if not stores:
                self._reply(
                    400,
                    {
                        "__type": "CustomKeyStoreNotFoundException",
                        "message": "Custom key store with the specified name or ID not found.",
                    },
                )
                return
        self._page(params, "CustomKeyStores", stores)

    def _page(self, params: dict[str, Any], result_key: str, items: list[Any]) -> None:
        """One page of `items` by Limit and Marker, with Truncated and NextMarker."""
        offset = 0
        if "Marker" in params:
            try:
                offset = int(base64.b64decode(params["Marker"]).decode().split(":")[1])
            except Exception:
                self._reply(400, {"__type": "InvalidMarkerException", "message": "Invalid marker."})
                return
        limit = params.get("Limit", 1000)
        page = items[offset : offset + limit]
        body: dict[str, Any] = {result_key: page, "Truncated": offset + limit < len(items)}
        if result_key == "CustomKeyStores":  # keep the order these tests have always used
            body = {"Truncated": body["Truncated"], result_key: page}
        if body["Truncated"]:
            body["NextMarker"] = _marker(0 if self.server.state.repeat_marker else offset + limit)
        self._reply(200, body)


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True
    state: StubState
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, so a client that gives
        # up halfway (a failed verification) never stalls the accept loop or shutdown().
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        wrapped = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            wrapped.do_handshake()
            super().finish_request(wrapped, client_address)
        except OSError:
            pass
        finally:
            wrapped.close()


class StubKMS:
    """Start with `StubKMS()`, use `.url`, `.state`; `.stop()` when done."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = _StubServer(("127.0.0.1", 0), _Handler)
        self._server.state = StubState()
        self._server.tls = tls
        self.port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def state(self) -> StubState:
        return self._server.state

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
