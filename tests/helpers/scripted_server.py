"""A keep-alive HTTP/1.1 server on 127.0.0.1 that answers from a script and counts what it saw.

For the XKS key client's connection pool: FakeProxy (proxies.py) cannot drop a kept-alive
connection, stall halfway through an answer or say how many connections it accepted. This one
is still a real listening socket (plain or TLS), reached by the real client code.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass


def http_response(status: int, body: bytes, headers: str = "") -> bytes:
    """A complete HTTP/1.1 response with Content-Length; `headers` are extra CRLF-ended lines."""
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


@dataclass
class Script:
    response: bytes  # what every request gets, unless one of the rules below applies
    answers_per_connection: int | None = None  # then read one more request and close unanswered
    stall_after: int | None = None  # send this many bytes of the response, then hold
    close_after_answer: bool = False  # close each connection once it has been answered


class ScriptedServer:
    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self._tls = tls
        self.connections = 0  # accepted TCP connections (TLS handshake or not)
        self.requests: list[bytes] = []  # request heads and bodies, in arrival order
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        conn = raw
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(raw, server_side=True)
                with self._lock:
                    self._open.append(conn)
            answered = 0
            buffer = b""
            while not self._stop.is_set():
                request, buffer = _read_request(conn, buffer)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                script = self.script
                limit = script.answers_per_connection
                if limit is not None and answered >= limit:
                    return  # unanswered: the client sees the connection close
                if script.stall_after is not None:
                    conn.sendall(script.response[: script.stall_after])
                    self._stop.wait()
                    return
                conn.sendall(script.response)
                answered += 1
                if script.close_after_answer:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    conn.close()


def _read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]
