"""A small HTTP/1.1 server on asyncio streams, with TLS and optional mTLS (layer: xksproxy/http).

Why not granian like `cks serve`: the proxy must verify client certificates (missing, expired,
foreign CA) during the handshake, which the stdlib `ssl` module does completely and which is
measured fast enough (docs/xks-proxy.md, "HTTP stack"). Requests are handled one at a time per
connection, with keep-alive; each crypto call is sub-millisecond, so it runs inline on the loop.

The head is parsed as strictly as RFC 9110/9112 allow (docs/operations.md): a framing error is a
400 and the connection is closed, so no request can be smuggled past the proxy. h11 would do
the same but costs more than the rest of a request (measured: docs/benchmarks.md). The limits
bound what one client can cost. Must not import operations or backends directly: it only calls
a `handle` function.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import logging
import re
import ssl
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

from kmscks.xksproxy.app import Response, error_response
from kmscks.xksproxy.config import ProxyLimits
from kmscks.xksproxy.errors import ValidationException

log = logging.getLogger("kmscks.xksproxy.http")

Handler = Callable[[str, str, Mapping[str, str], bytes], Response]

_READ_SIZE = 64 * 1024
MAX_HEADERS = 100
# RFC 9112 §3 and RFC 9110 §5: a token, one space, a target of visible characters, one space,
# the version. Only HTTP/1.0 and 1.1 are served.
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.([01])")
# A field line: name, colon (no space before it), optional whitespace, a value without CR, LF,
# NUL or other controls but HTAB. A line that starts with whitespace (obs-fold) never matches.
_FIELD_LINE = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
_DIGITS = re.compile(rb"[0-9]{1,18}")
_BARE_LF = re.compile(rb"(?<!\r)\n")
# A request starts with a method (a token) or, tolerated by RFC 9112 §2.2, empty lines.
# Anything else (a TLS ClientHello on the plain port, binary noise) is refused on its first
# byte instead of waiting for a line end that may never come.
_REQUEST_START = frozenset(
    b"!#$%&'*+.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-\r\n"
)
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class _ClientNameContext(ssl.SSLContext):
    """A server context whose handshakes also require a name in the client's certificate.

    OpenSSL checks a peer certificate's name during the handshake when the connection is given
    a host name and the context checks host names. asyncio gives a server connection none, so
    this context gives it the expected client name: a certificate from the right CA with
    another name then fails the handshake with a fatal alert, as the spec asks ("abort the
    handshake"), like an expired or foreign one, instead of being closed afterwards.
    """

    client_name: str | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        if server_side and self.client_name is not None:
            server_hostname = self.client_name
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)


def _check_readable(setting: str, path: Path | None) -> None:
    """Raise an OSError naming `setting` and `path` if the file cannot be read.

    ssl's loaders report a missing file as a bare "[Errno 2] No such file or directory", with
    neither the file nor which of the three settings it came from. An OSError, like the
    loaders' own, keeps the exit code docs/xks-proxy.md gives for unloadable TLS files (1).
    """
    if path is None:
        return
    try:
        path.open("rb").close()
    except FileNotFoundError:
        raise OSError(f"{setting}: no such file: {path}") from None
    except OSError as exc:
        raise OSError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def tls_context(
    cert: Path, key: Path, client_ca: Path | None, client_name: str | None = None
) -> ssl.SSLContext:
    """TLS 1.2+ with the spec's suites; with `client_ca`, a client certificate is mandatory,
    and with `client_name` it must also carry that name (a DNS name in its subject alternative
    names, or its common name when it has none). A file that cannot be read or loaded is an
    OSError naming its `[server]` setting and path."""
    for setting, path in (("tls_cert", cert), ("tls_key", key), ("mtls_client_ca", client_ca)):
        _check_readable(f"server.{setting}", path)
    context = _ClientNameContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # TLS 1.2 suites the spec requires (ECDHE + AES-256-GCM) plus their siblings; TLS 1.3
    # suites are OpenSSL's defaults, which include TLS_AES_256_GCM_SHA384.
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as error:  # OpenSSL's own words name neither the files nor the settings
        raise OSError(
            f"server.tls_cert / server.tls_key: not a PEM certificate and its key: {cert},"
            f" {key} ({error.reason or error})"
        ) from None
    context.set_alpn_protocols(["http/1.1"])
    if client_ca is not None:
        # OpenSSL checks the chain, the validity period and the name during the handshake, so
        # an expired, foreign or misnamed certificate never reaches the application.
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_verify_locations(client_ca)
        except ssl.SSLError as error:
            raise OSError(
                f"server.mtls_client_ca: not a PEM certificate bundle: {client_ca}"
                f" ({error.reason or error})"
            ) from None
        if client_name is not None:
            context.client_name = client_name
            context.hostname_checks_common_name = True
            context.check_hostname = True
    return context


class _Gate:
    """The connections open at once, counted from accept to close, and the cap on them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection, or close it at once (False) when the cap is reached."""
        if self.open >= self.limit:
            log.warning("closing a connection: %d are open already", self.open)
            cast(asyncio.Transport, transport).abort()  # the listening socket's own transport
            return False
        self.open += 1
        return True


class _Counted:
    """A connection's protocol that is counted by its server's gate from accept to close.

    Mixed into the protocol the listening socket's transport talks to (TLS or plain), because
    that one sees `connection_made` as soon as a connection is accepted and `connection_lost`
    whatever ends it. The stream handler runs only after a TLS handshake (and not at all when
    it fails), so counting there let silent clients hold connections past the cap until the
    handshake timeout.
    """

    gate: _Gate
    admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.admitted = self.gate.admit(transport)
        if self.admitted:
            super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.admitted:
            self.admitted = False
            self.gate.open -= 1
        super().connection_lost(exc)  # type: ignore[misc]


class _PlainProtocol(_Counted, asyncio.StreamReaderProtocol):
    """A plain-HTTP connection: asyncio's stream protocol, counted."""


class _TlsProtocol(_Counted, asyncio.sslproto.SSLProtocol):
    """asyncio's TLS protocol, counted, and a failed handshake sends the peer its fatal alert.

    OpenSSL writes the alert (unknown_ca, certificate_expired, certificate_required...) into
    the protocol's outgoing buffer, and asyncio before CPython gh-98078 (Python 3.11 included)
    closes the socket without sending it: a client whose certificate is refused sees the
    connection drop instead of the reason. The spec asks a proxy to abort the handshake on a
    wrong client certificate, which is the alert. Sending it first is harmless where asyncio
    already does (the buffer is then empty). `HttpServer._protocol` builds one per accepted
    connection, so nothing in asyncio is patched.
    """

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None:
            with contextlib.suppress(Exception):  # best effort: the connection is going anyway
                self._process_outgoing()  # type: ignore[attr-defined]
        super()._on_handshake_complete(handshake_exc)


class _Refused(Exception):
    """A request that gets a 400 and a closed connection."""


class _Connection:
    """One client connection: bytes read but not used yet, its deadline for progress, and the
    task that serves it."""

    __slots__ = ("buffer", "deadline", "handler", "writer")

    def __init__(self, writer: asyncio.StreamWriter, deadline: float) -> None:
        self.writer = writer
        self.deadline = deadline
        self.buffer = b""
        self.handler = asyncio.current_task()


class HttpServer:
    def __init__(
        self,
        handler: Handler,
        idle_timeout: float,
        limits: ProxyLimits | None = None,
    ) -> None:
        self._handler = handler
        self._idle_timeout = idle_timeout
        self._limits = limits or ProxyLimits()
        self._header_timeout = self._limits.header_timeout_seconds
        self._connections: dict[asyncio.StreamWriter, _Connection] = {}
        self._server: asyncio.Server | None = None
        self._reaper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int, context: ssl.SSLContext | None) -> int:
        # The server is made with its own protocols, not `asyncio.start_server(ssl=...)`, so
        # that the connection cap counts a TLS connection from accept, not from the end of
        # its handshake (see `_Counted`).
        gate = _Gate(self._limits.max_connections)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._protocol(loop, gate, context), host, port, reuse_address=True
        )
        self._reaper = loop.create_task(self._reap())
        return int(self._server.sockets[0].getsockname()[1])

    def _protocol(
        self, loop: asyncio.AbstractEventLoop, gate: _Gate, context: ssl.SSLContext | None
    ) -> asyncio.BaseProtocol:
        """What `asyncio.start_server` builds for a connection, with `ssl=context`, counted."""
        reader = asyncio.StreamReader(loop=loop)
        if context is None:
            plain = _PlainProtocol(reader, self._connection, loop=loop)
            plain.gate = gate
            return plain
        stream = asyncio.StreamReaderProtocol(reader, self._connection, loop=loop)
        tls = _TlsProtocol(
            loop,
            stream,
            context,
            None,  # type: ignore[arg-type]  # no waiter: the handler starts after the handshake
            server_side=True,
            # typeshed says int; asyncio takes any positive number of seconds
            ssl_handshake_timeout=self._limits.header_timeout_seconds,  # type: ignore[arg-type]
        )
        tls.gate = gate
        return tls

    async def close(self) -> None:
        """Stop listening and end every connection at once.

        Connections are aborted, not closed: closing a TLS connection waits (up to asyncio's
        30 s) for the client's close_notify, which a client holding an idle kept-alive
        connection, such as cks's key client, never sends. The process then lingered for 30 s
        after "stopped", and Python 3.11's streams logged each handler that asyncio.run
        cancelled at the end as an error with a traceback. A request is handled inline on the
        event loop, so none is half done when this runs; a client whose idle connection is
        aborted opens a new one.
        """
        if self._reaper is not None:
            self._reaper.cancel()
        if self._server is not None:
            self._server.close()
        handlers = [c.handler for c in self._connections.values() if c.handler is not None]
        for writer in list(self._connections):
            writer.transport.abort()
        if handlers:  # each sees its connection end and returns
            await asyncio.wait(handlers, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    async def _reap(self) -> None:
        """Close connections past their deadline: one timer for all, not one per read.

        An asyncio timeout around each read cost ~10% of a request; a deadline field is
        updated per phase for the price of a float, and checked here every quarter second.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.25)
            now = loop.time()
            for writer, connection in list(self._connections.items()):
                if connection.deadline < now:
                    writer.transport.abort()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        connection = _Connection(writer, loop.time() + self._idle_timeout)
        self._connections[writer] = connection
        try:
            while await self._one_request(connection, reader, loop):
                pass
        except _Refused as refusal:
            log.info("refused a malformed request: %s", refusal)  # our own words, no client text
            with contextlib.suppress(Exception):
                await self._send(writer, _bad_request(str(refusal)), keep_alive=False)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass  # the client went away, stalled or broke the exchange; nothing to answer
        finally:
            self._connections.pop(writer, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_head(self, connection: _Connection, reader: asyncio.StreamReader) -> bytes:
        """The next request's head, without its blank line; b"" if the client closed first."""
        buffer = connection.buffer
        started = bool(buffer)
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end > self._limits.max_header_bytes or (
                end < 0 and len(buffer) > self._limits.max_header_bytes
            ):
                raise _Refused("request head too large")
            if end >= 0:
                head, connection.buffer = buffer[:end], buffer[end + 4 :]
                if _BARE_LF.search(head):
                    raise _Refused("malformed request: a line ends with LF alone, not CRLF")
                return head
            if _BARE_LF.search(buffer):
                # RFC 9112 §2.2 lets a server refuse bare LF; waiting for a CRLF CRLF that
                # such a client never sends would hold the connection until a timeout.
                raise _Refused("malformed request: a line ends with LF alone, not CRLF")
            data = await reader.read(_READ_SIZE)
            if not data:
                if buffer.strip(b"\r\n"):
                    raise _Refused("malformed request: the connection closed inside the head")
                return b""
            if not started:
                started = True
                first = data.lstrip(b"\r\n")[:1]
                if first and first[0] not in _REQUEST_START:
                    raise _Refused("malformed request line")
                # The head's clock starts with its first byte (before that: keep-alive idle).
                connection.deadline = asyncio.get_running_loop().time() + self._header_timeout
            buffer += data

    async def _read_body(
        self, connection: _Connection, reader: asyncio.StreamReader, length: int
    ) -> bytes:
        buffer = connection.buffer
        if len(buffer) < length:
            buffer += await reader.readexactly(length - len(buffer))
        body, connection.buffer = buffer[:length], buffer[length:]
        return body

    async def _one_request(
        self, connection: _Connection, reader: asyncio.StreamReader, loop: Any
    ) -> bool:
        """Serve one request; False when the connection should close."""
        # Bytes of a pipelined request may be buffered already: its head is under way.
        timeout = self._header_timeout if connection.buffer else self._idle_timeout
        connection.deadline = loop.time() + timeout
        try:
            head = await self._read_head(connection, reader)
        except asyncio.IncompleteReadError:
            return False
        if not head:
            return False  # the client closed the connection between requests
        # RFC 9112 §2.2: a server should ignore empty lines received before a request line.
        lines = head.lstrip(b"\r\n").split(b"\r\n")
        request_line = _REQUEST_LINE.fullmatch(lines[0])
        if request_line is None:
            raise _Refused("malformed request line")
        method, target, minor = request_line.groups()
        if len(lines) - 1 > MAX_HEADERS:
            raise _Refused("too many headers")
        headers: dict[str, str] = {}
        lengths: set[bytes] = set()
        for line in lines[1:]:
            field = _FIELD_LINE.fullmatch(line)
            if field is None:
                raise _Refused("malformed header line")
            raw_name, raw_value = field.groups()
            name = raw_name.decode("ascii").lower()
            value = raw_value.decode("latin-1")
            if name == "content-length":
                lengths.update(part.strip() for part in raw_value.split(b","))
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        if minor == b"1" and "host" not in headers:
            raise _Refused("malformed request: HTTP/1.1 requires a Host header")
        if "transfer-encoding" in headers:
            raise _Refused("chunked request bodies are not supported; send Content-Length")
        length = 0
        if lengths:
            # RFC 9110 §8.6: digits only; several values are an error unless all the same.
            digits = lengths.pop()
            if lengths or not _DIGITS.fullmatch(digits):
                raise _Refused("bad Content-Length")
            length = int(digits)
        if length > self._limits.max_request_bytes:
            # Refused from the head alone: the body is never read.
            raise _Refused(f"request larger than {self._limits.max_request_bytes} bytes")
        connection_tokens = headers.get("connection", "").lower()
        keep_alive = (
            "close" not in connection_tokens if minor == b"1" else "keep-alive" in connection_tokens
        )
        body = b""
        if length:
            connection.deadline = loop.time() + self._limits.body_timeout_seconds
            if headers.get("expect", "").lower() == "100-continue":
                connection.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            try:
                body = await self._read_body(connection, reader, length)
            except asyncio.IncompleteReadError:
                raise _Refused("malformed request: the connection closed inside the body")
        response = self._handler(method.decode("ascii"), target.decode("ascii"), headers, body)
        await self._send(connection.writer, response, keep_alive)
        return keep_alive

    async def _send(
        self, writer: asyncio.StreamWriter, response: Response, keep_alive: bool
    ) -> None:
        reason = _REASONS.get(response.status, "")
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
