"""A small HTTP/1.1 server on asyncio streams, with TLS and optional mTLS (layer: xksproxy/http).

Why not granian like `cks serve`: the proxy must verify client certificates (missing, expired,
foreign CA) during the handshake, which the stdlib `ssl` module does completely and which is
measured fast enough (docs/xks-proxy.md, "HTTP stack"). Requests are handled one at a time per
connection, with keep-alive; each crypto call is sub-millisecond, so it runs inline on the loop.
Must not import operations or backends directly: it only calls a `handle` function.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from kmscks.xksproxy.app import Response, error_response
from kmscks.xksproxy.errors import ValidationException

log = logging.getLogger("kmscks.xksproxy.http")

Handler = Callable[[str, str, Mapping[str, str], bytes], Response]

MAX_BODY = 256 * 1024  # far above the largest valid request (16 KiB plaintext + 16 KiB AAD, base64)
MAX_HEADERS = 100
MAX_HEAD = 16 * 1024  # request line + headers


def tls_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """TLS 1.2+ with the spec's suites; with `client_ca`, a client certificate is mandatory."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # TLS 1.2 suites the spec requires (ECDHE + AES-256-GCM) plus their siblings; TLS 1.3
    # suites are OpenSSL's defaults, which include TLS_AES_256_GCM_SHA384.
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    if client_ca is not None:
        # OpenSSL checks the chain and the validity period during the handshake, so an expired
        # or foreign certificate never reaches the application.
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


def client_names(peer_cert: dict[str, Any] | None) -> set[str]:
    """The DNS names and common names a verified client certificate carries."""
    if not peer_cert:
        return set()
    names = {value for kind, value in peer_cert.get("subjectAltName", ()) if kind == "DNS"}
    for rdn in peer_cert.get("subject", ()):
        names.update(value for key, value in rdn if key == "commonName")
    return {name.lower() for name in names}


class HttpServer:
    def __init__(
        self, handler: Handler, idle_timeout: float, client_name: str | None = None
    ) -> None:
        self._handler = handler
        self._idle_timeout = idle_timeout
        # The spec lets the admin pin the client certificate's subject as well as its CA
        # (KMS presents cks.kms.<region>.amazonaws.com).
        self._client_name = client_name.lower() if client_name else None
        self._connections: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, context: ssl.SSLContext | None) -> int:
        self._server = await asyncio.start_server(
            self._connection,
            host,
            port,
            ssl=context,
            ssl_handshake_timeout=10.0 if context else None,
            limit=MAX_HEAD,
            reuse_address=True,
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            if self._client_name is not None:
                ssl_object = writer.get_extra_info("ssl_object")
                peer = ssl_object.getpeercert() if ssl_object is not None else None
                if self._client_name not in client_names(peer):
                    log.warning(
                        "closing a connection: client certificate is not for %s", self._client_name
                    )
                    return
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled; nothing to answer
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection should close."""
        try:
            # One timeout and one read for the whole head: per-line waits cost ~10% of a request.
            async with asyncio.timeout(self._idle_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # the client closed the connection between requests
        except asyncio.LimitOverrunError:
            await self._send(writer, _bad_request("request head too large"), keep_alive=False)
            return False
        # RFC 9112 §2.2: a server should ignore empty lines received before a request line.
        lines = head.lstrip(b"\r\n").decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await self._send(writer, _bad_request("malformed request line"), keep_alive=False)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        for header_line in lines[1:]:
            if not header_line:
                continue
            name, colon, value = header_line.partition(":")
            if not colon or len(headers) >= MAX_HEADERS:
                await self._send(writer, _bad_request("malformed headers"), keep_alive=False)
                return False
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        connection = headers.get("connection", "").lower()
        keep_alive = (
            "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        )
        if "transfer-encoding" in headers:
            response = _bad_request("chunked request bodies are not supported; send Content-Length")
            await self._send(writer, response, keep_alive=False)
            return False
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            await self._send(
                writer, _bad_request("bad or too large Content-Length"), keep_alive=False
            )
            return False
        body = b""
        if length:
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            async with asyncio.timeout(self._idle_timeout):
                body = await reader.readexactly(length)
        response = self._handler(method, target, headers, body)
        await self._send(writer, response, keep_alive)
        return keep_alive

    async def _send(
        self, writer: asyncio.StreamWriter, response: Response, keep_alive: bool
    ) -> None:
        reason = HTTPStatus(response.status).phrase
        head = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            "Server: cks-xks-proxy",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head.extend(f"{name}: {value}" for name, value in response.headers)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
        await writer.drain()


def _bad_request(message: str) -> Response:
    return error_response(ValidationException(message))
