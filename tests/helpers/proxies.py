"""Real HTTP(S) servers on 127.0.0.1 that behave like XKS proxies, well or badly.

Not mocks: each is a listening socket that a `cks serve` process reaches over TCP (and TLS),
so the server's real client code meets a refused port, a stall, a bad certificate, an error
status, garbage or an unhealthy fleet.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal, TypeVar

import trustme

T = TypeVar("T")

HEALTHY = {
    "xksProxyFleetSize": 1,
    "xksProxyVendor": "cks-tests",
    "xksProxyModel": "FakeProxy 1.0",
    "ekmVendor": "tests",
    "ekmFleetDetails": [{"id": "ekm-1", "model": "soft", "healthStatus": "ACTIVE"}],
}
ALL_UNAVAILABLE = {
    **HEALTHY,
    "ekmFleetDetails": [
        {"id": "ekm-1", "model": "soft", "healthStatus": "UNAVAILABLE"},
        {"id": "ekm-2", "model": "soft", "healthStatus": "UNAVAILABLE"},
    ],
}
DEGRADED = {
    **HEALTHY,
    "ekmFleetDetails": [
        {"id": "ekm-1", "model": "soft", "healthStatus": "DEGRADED"},
        {"id": "ekm-2", "model": "soft", "healthStatus": "UNAVAILABLE"},
    ],
}


@dataclass
class Behaviour:
    """What a fake proxy answers: a status and body, after an optional delay."""

    status: int = 200
    body: bytes = field(default_factory=lambda: json.dumps(HEALTHY).encode())
    delay: float = 0.0


def json_body(document: object) -> bytes:
    return json.dumps(document).encode()


def error_body(name: str) -> bytes:
    return json_body({"errorName": name, "errorMessage": "from a test proxy"})


class FakeProxy:
    """A ThreadingHTTPServer on 127.0.0.1 with a changeable behaviour; records each request."""

    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                proxy.requests.append((self.path, dict(self.headers.items()), body))
                current = proxy.behaviour
                if current.delay:
                    time.sleep(current.delay)
                self.send_response(current.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(current.body)))
                self.end_headers()
                self.wfile.write(current.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 drops concurrent health calls

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def health_calls(self) -> list[dict[str, object]]:
        return [json.loads(body) for path, _, body in self.requests if path.endswith("/health")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class StallingServer:
    """Accepts TCP connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(conn)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        for conn in self._held:
            conn.close()
        self.sock.close()


def closed_port_address() -> str:
    """An address where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class Tls:
    """A test CA and server contexts for chosen host names."""

    ca: trustme.CA
    ca_path: Path

    @classmethod
    def create(cls, folder: Path) -> Tls:
        ca = trustme.CA()
        path = folder / "test-ca.pem"
        ca.cert_pem.write_to_path(str(path))
        return cls(ca, path)

    def server_context(self, *hostnames: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(*hostnames).configure_cert(context)
        return context


def untrusted_context(*hostnames: str) -> ssl.SSLContext:
    """A certificate from a CA the server does not trust."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert(*hostnames).configure_cert(context)
    return context


def wait_for(
    predicate: Callable[[], T | Literal[False] | None],
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T:
    """The predicate's first truthy value (so never None or False), polled every `interval` for
    up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)
