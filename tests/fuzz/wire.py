"""Signed raw KMS requests for the fuzz and regression tests: bytes in, (status, body) out.

boto3 cannot send what the fuzz needs (nulls, wrong types, invalid UTF-8, odd targets), so these
requests are built by hand and signed with the project's own SigV4 signer, as any client would.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from kmscks.sigv4_sign import sign

CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type(self) -> str | None:
        try:
            document = json.loads(self.body)
        except ValueError:
            return None
        return document.get("__type") if isinstance(document, dict) else None


class SignedClient:
    """One keep-alive connection to a server; reconnects if the server closed it."""

    def __init__(self, port: int, region: str, access_key: str = "test", secret: str = "test"):
        self.port = port
        self.region = region
        self.access_key = access_key
        self.secret = secret
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(
        self,
        target: str,
        body: bytes,
        *,
        content_type: str = CONTENT_TYPE,
        service: str = "kms",
        path: str = "/",
        method: str = "POST",
    ) -> Answer:
        headers = {"Content-Type": content_type}
        if target:
            headers["X-Amz-Target"] = target
        signed = sign(
            method=method,
            host=f"127.0.0.1:{self.port}",
            path=path,
            headers=headers,
            body=body,
            access_key_id=self.access_key,
            secret=self.secret,
            region=self.region,
            service=service,
            now=time.time(),
        )
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            self._conn.request(method, path, body=body, headers=signed)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered before the body was sent (a request over the size limit is
            # refused from its headers) and closed: read that answer, if it is still there.
            early = _early_answer(self._conn.sock)
            self.close()
            return early
        try:
            response = self._conn.getresponse()
            payload = response.read()
        except Exception:
            self.close()  # never reuse a connection in an unknown state
            raise
        if response.getheader("connection", "").lower() == "close":
            self.close()
        return Answer(response.status, payload)

    def call(self, operation: str, params: dict[str, Any]) -> Answer:
        return self.send(f"TrentService.{operation}", json.dumps(params).encode())


def _early_answer(sock: Any) -> Answer:
    """What a server sent before closing on a request still being sent; status 0 if lost.

    The close can reach the client as a reset, which discards what it had not read yet.
    """
    received = b""
    try:
        while sock is not None and (chunk := sock.recv(65536)):
            received += chunk
    except OSError:
        pass
    head, _, body = received.partition(b"\r\n\r\n")
    status = status_of(head + b"\r\n") or 0
    return Answer(status, body)


def exchange(port: int, data: bytes, *, half_close: bool = False, wait: float = 15.0) -> bytes:
    """Send raw bytes on a new connection; everything the server sends until it closes.

    Ends early (returning what arrived) if the server stays silent for `wait` seconds, so a
    server that holds a connection open shows up as a missing answer, not a hung test.
    """
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            received += b"<silent>"
        except ConnectionResetError:
            received += b"<reset>"
        return received


def status_of(answer: bytes) -> int | None:
    """The status code of the first response in `answer`, if there is one."""
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer[9:12])


def body_of(answer: bytes) -> Any:
    head, _, rest = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return json.loads(rest[: int(value)])
    return None
