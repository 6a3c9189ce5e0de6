"""A small forward HTTP proxy on 127.0.0.1 for the CLI tests: CONNECT tunnels (https) and
absolute-URI requests (http), recording what it saw. Only ever forwards to 127.0.0.1."""

from __future__ import annotations

import select
import socket
import threading
from urllib.parse import urlsplit


class ForwardProxy:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[str] = []  # request lines
        self.authorizations: list[str] = []
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            header, _, rest = head.partition(b"\r\n\r\n")
            lines = header.decode("latin-1").split("\r\n")
            self.seen.append(lines[0])
            for line in lines[1:]:
                if line.lower().startswith("proxy-authorization:"):
                    self.authorizations.append(line.split(":", 1)[1].strip())
            method, target, _ = lines[0].split(" ", 2)
            if method == "CONNECT":
                port = target.rpartition(":")[2]
                upstream = socket.create_connection(("127.0.0.1", int(port)))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                parts = urlsplit(target)
                upstream = socket.create_connection(("127.0.0.1", parts.port or 80))
                kept = [line for line in lines[1:] if not line.lower().startswith("proxy-")]
                request_line = f"{method} {parts.path or '/'} HTTP/1.1"
                upstream.sendall(
                    "\r\n".join([request_line, *kept]).encode("latin-1") + b"\r\n\r\n" + rest
                )
            with upstream:
                self._pump(client, upstream)

    def _pump(self, one: socket.socket, other: socket.socket) -> None:
        sockets = [one, other]
        while True:
            readable, _, _ = select.select(sockets, [], [], 0.1)
            if not readable:
                if self._closing:
                    return
                continue
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (other if sock is one else one).sendall(data)

    def close(self) -> None:
        self._closing = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self._accepter.join(5)
        for thread in self._threads:
            thread.join(10)
