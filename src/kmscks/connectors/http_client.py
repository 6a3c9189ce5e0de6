"""A small asyncio HTTP/1.1 client that says in which phase a request failed.

connectors layer; imports only the standard library. KMS tells a refused connection from a TLS
failure from a proxy that accepted the connection but did not answer in time (contract
xks-proxy.md §2.2), so this client runs the phases separately (resolve, TCP connect, TLS
handshake, request/response) under one deadline and reports the phase of a failure.

Two ways to send: `post` opens one connection per request (the health call of Create, Update
and Connect, which should test the whole path every time), and `ConnectionPool.post` keeps
connections alive per target and resumes TLS sessions (the key operations, where a fresh TCP
and TLS handshake per call would cost more than the proxy's work). A fresh connection of the
pool fails with the same distinctions as `post`. The body is read by Content-Length, chunked
encoding or to end of stream.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import socket
import ssl
from collections import deque
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

MAX_RESPONSE_BYTES = 1 << 20
MAX_IDLE_PER_TARGET = 16
IDLE_TIMEOUT_SECONDS = 20.0  # below the bundled proxy's 60 s, so the proxy rarely closes first


class Failure(Enum):
    UNRESOLVABLE = "unresolvable"  # the host name does not resolve
    REFUSED = "refused"  # nothing accepted the TCP connection (refused, reset, no route)
    TLS = "tls"  # the TLS handshake or certificate verification failed
    TIMED_OUT = "timed_out"  # connected, but no complete answer before the deadline
    MALFORMED = "malformed"  # an answer that is not HTTP


class HttpFailure(Exception):
    """A request that got no usable HTTP response; `answered` is True once any byte came back."""

    def __init__(self, failure: Failure, detail: str, answered: bool = False) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure
        self.detail = detail
        self.answered = answered


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    reused_connection: bool = False  # sent on a pooled connection that had served before
    tls_resumed: bool = False  # a handshake made for this request resumed an earlier session


@dataclass(frozen=True)
class Target:
    """Where to connect, and who to expect there."""

    connect_host: str
    connect_port: int
    host_header: str  # also the TLS server name
    tls: ssl.SSLContext | None


# asyncio's start_tls has no `session` argument, but it builds the SSL object synchronously
# inside the call (SSLProtocol.__init__ -> wrap_bio), so the session to offer rides along in a
# context variable that ResumingContext.wrap_bio reads.
_OFFERED_SESSION: contextvars.ContextVar[ssl.SSLSession | None] = contextvars.ContextVar(
    "offered_tls_session", default=None
)


class ResumingContext(ssl.SSLContext):
    """A client SSLContext whose asyncio handshakes can resume a saved TLS session."""

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        offered = session if session is not None else _OFFERED_SESSION.get()
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, offered)


def client_tls_context(
    ca_bundle: Path | None, client_cert: Path | None, client_key: Path | None
) -> ResumingContext:
    """What ssl.create_default_context gives a client, TLS 1.2+, plus our CAs and mTLS cert."""
    context = ResumingContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context


class _Closed(Exception):
    """The connection closed or reset before any response byte: stale if it was pooled."""


@dataclass
class _Progress:
    phase: str = "connect"
    answered: bool = False


def _request_bytes(path: str, headers: dict[str, str], body: bytes, keep_alive: bool) -> bytes:
    connection = "" if keep_alive else "Connection: close\r\n"  # HTTP/1.1 keeps alive by default
    return (
        f"POST {path} HTTP/1.1\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + f"Content-Length: {len(body)}\r\n{connection}\r\n"
    ).encode("latin-1") + body


async def _connect(
    target: Target, progress: _Progress, session: ssl.SSLSession | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    progress.phase = "connect"
    try:
        reader, writer = await asyncio.open_connection(target.connect_host, target.connect_port)
    except socket.gaierror as error:
        raise HttpFailure(Failure.UNRESOLVABLE, f"cannot resolve {target.connect_host}: {error}")
    except OSError as error:
        raise HttpFailure(Failure.REFUSED, _connect_failure(target, error))
    if target.tls is not None:
        progress.phase = "tls"
        token = _OFFERED_SESSION.set(session)
        try:
            await writer.start_tls(target.tls, server_hostname=target.host_header)
        except BaseException as error:
            # Failed or cancelled by the deadline: drop the TCP connection now, not when a
            # close_notify exchange that will not happen times out.
            writer.transport.abort()
            await asyncio.sleep(0)  # lets the abort close the socket
            if isinstance(error, ssl.SSLError):
                raise HttpFailure(Failure.TLS, _tls_failure(target, error))
            if isinstance(error, OSError):  # ConnectionError included
                raise HttpFailure(Failure.TLS, f"connection lost during handshake: {error}")
            raise
        finally:
            _OFFERED_SESSION.reset(token)
    progress.phase = "response"
    return reader, writer


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            total += size
            if total > MAX_RESPONSE_BYTES:
                raise HttpFailure(Failure.MALFORMED, "response body too large", answered=True)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_RESPONSE_BYTES:
            raise HttpFailure(Failure.MALFORMED, "response body too large", answered=True)
        return await reader.readexactly(length)
    return await reader.read(MAX_RESPONSE_BYTES)


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
    progress: _Progress,
) -> tuple[HttpResponse, bool]:
    """Send `request`, read one response; also says whether the connection may be reused."""
    try:
        writer.write(request)
        await writer.drain()
        # The first byte on its own, so that a timeout knows whether the proxy began to answer.
        first = await reader.readexactly(1)
        progress.answered = True
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        if not progress.answered:
            raise _Closed("connection closed before any response")
        raise HttpFailure(Failure.MALFORMED, "incomplete response head", answered=True)
    except (ConnectionResetError, BrokenPipeError) as error:
        if not progress.answered:
            raise _Closed(str(error) or type(error).__name__)
        raise HttpFailure(Failure.REFUSED, str(error), answered=True)
    except asyncio.LimitOverrunError:
        raise HttpFailure(Failure.MALFORMED, "response head too long", answered=True)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpFailure(
            Failure.MALFORMED, f"not an HTTP status line: {lines[0][:80]!r}", answered=True
        )
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    try:
        body = await _read_body(reader, headers)
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise HttpFailure(Failure.MALFORMED, "truncated or malformed response body", answered=True)
    connection = headers.get("connection", "").lower()
    reusable = (
        ("content-length" in headers or "chunked" in headers.get("transfer-encoding", ""))
        and "close" not in connection
        and (parts[0] == "HTTP/1.1" or "keep-alive" in connection)
    )
    return HttpResponse(int(parts[1]), headers, body), reusable


def _timed_out(target: Target, progress: _Progress, timeout: float) -> HttpFailure:
    where = f"{target.connect_host}:{target.connect_port}"
    if progress.phase == "connect":
        return HttpFailure(
            Failure.REFUSED,
            f"no answer to the TCP connection to {where} within {timeout * 1000:.0f} ms",
        )
    return HttpFailure(
        Failure.TIMED_OUT,
        f"{where} accepted the connection but gave no complete response within"
        f" {timeout * 1000:.0f} ms",
        progress.answered,
    )


def _connect_failure(target: Target, error: OSError) -> str:
    """A failed TCP connect in words: who refused, or why it could not be tried."""
    where = f"{target.connect_host}:{target.connect_port}"
    if isinstance(error, ConnectionRefusedError) or error.errno == errno.ECONNREFUSED:
        return f"TCP connection refused by {where}"
    return f"cannot open a TCP connection to {where}: {error.strerror or error}"


def _tls_failure(target: Target, error: ssl.SSLError) -> str:
    """A failed handshake in words, with the certificate check's own reason when it has one."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"certificate verify failed: {error.verify_message}"
            f" (server {target.host_header} at {target.connect_host}:{target.connect_port})"
        )
    where = f"{target.connect_host}:{target.connect_port}"
    return f"TLS handshake with {where} failed: {error.reason or error}"


def _drop(writer: asyncio.StreamWriter) -> None:
    """Close a connection at once, without a TLS close_notify (whose exchange could keep the
    socket open until the shutdown timeout); responses are framed, so none is needed."""
    # `writer` is held by this frame: a StreamWriter collected before its transport closes
    # warns "unclosed" (a one-liner like `idle.pop().writer.transport.abort()` does that).
    writer.transport.abort()


async def _discard(writer: asyncio.StreamWriter, abort: bool = True) -> None:
    """Close a connection and collect its error, so that asyncio does not report it as never
    retrieved. A failed one is aborted: a TLS close_notify exchange could outlast the deadline.
    """
    if abort:
        writer.transport.abort()
    else:
        writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 0.1)
    except (OSError, TimeoutError, ssl.SSLError):
        pass


async def post(
    target: Target, path: str, headers: dict[str, str], body: bytes, timeout: float
) -> HttpResponse:
    """POST `body` on a connection of its own and return the response, or raise HttpFailure."""
    request = _request_bytes(path, headers, body, keep_alive=False)
    progress = _Progress()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await _connect(target, progress)
            try:
                response, _ = await _exchange(reader, writer, request, progress)
            except _Closed as closed:
                # Accepted, then closed without a byte: the proxy is not serving.
                raise HttpFailure(Failure.REFUSED, str(closed))
            except ssl.SSLError as error:
                raise HttpFailure(Failure.TLS, error.reason or str(error), progress.answered)
            return response
    except TimeoutError:
        raise _timed_out(target, progress, timeout)
    finally:
        if writer is not None:
            await _discard(writer, abort=False)


@dataclass
class _Idle:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    since: float


@dataclass
class PoolStats:
    """Counters for tests and benchmarks."""

    opened: int = 0  # fresh connections that completed TCP (and TLS)
    reused: int = 0  # requests sent on an idle pooled connection
    stale: int = 0  # pooled connections found dead before any response byte, then replaced
    tls_resumed: int = 0  # fresh TLS connections that resumed a saved session


class ConnectionPool:
    """Keep-alive connections per target and event loop, with TLS session resumption.

    A request takes the most recently used idle connection of its target, or opens one. If a
    pooled connection turns out dead before any response byte (the proxy closed it while it
    idled), the request goes once more on a fresh connection within the same deadline: that is
    not a network-timeout retry, and a request that reached the proxy gets no second try.
    After a response the connection goes back idle if both sides allow keep-alive and fewer
    than `max_idle` connections of the target idle; idle ones older than `idle_timeout` close.
    """

    def __init__(
        self,
        max_idle: int = MAX_IDLE_PER_TARGET,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        resume_tls: bool = True,
    ) -> None:
        self.max_idle = max_idle  # 0: one connection per request
        self.idle_timeout = idle_timeout
        self.resume_tls = resume_tls  # False: every new connection does a full handshake
        self.stats = PoolStats()
        # A stream belongs to the loop that opened it; a server may run several loops.
        self._idle: dict[asyncio.AbstractEventLoop, dict[Target, deque[_Idle]]] = {}
        # Sessions are plain data, usable from any loop; the newest one per target.
        self._sessions: dict[Target, ssl.SSLSession] = {}

    async def post(
        self, target: Target, path: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> HttpResponse:
        """POST `body` to `target` and return the response, or raise HttpFailure."""
        request = _request_bytes(path, headers, body, keep_alive=True)
        idle = self._idle_of(target)
        progress = _Progress()
        try:
            async with asyncio.timeout(timeout):
                pooled = self._take(idle)
                if pooled is not None:
                    self.stats.reused += 1
                    progress.phase = "response"
                    try:
                        return await self._send(target, pooled, request, progress, idle, True)
                    except _Closed:
                        self.stats.stale += 1
                        progress = _Progress()
                session = self._sessions.get(target) if self.resume_tls else None
                reader, writer = await _connect(target, progress, session)
                self.stats.opened += 1
                fresh = _Idle(reader, writer, 0.0)
                try:
                    return await self._send(target, fresh, request, progress, idle, False)
                except _Closed as closed:
                    raise HttpFailure(Failure.REFUSED, str(closed))
        except TimeoutError:
            raise _timed_out(target, progress, timeout)

    async def _send(
        self,
        target: Target,
        connection: _Idle,
        request: bytes,
        progress: _Progress,
        idle: deque[_Idle],
        reused: bool,
    ) -> HttpResponse:
        writer = connection.writer
        try:
            response, reusable = await _exchange(connection.reader, writer, request, progress)
        except ssl.SSLError as error:
            await _discard(writer)
            if reused and not progress.answered:
                raise _Closed(error.reason or str(error))
            raise HttpFailure(Failure.TLS, error.reason or str(error), progress.answered)
        except BaseException:  # failures, the deadline's cancellation: never reuse it
            await _discard(writer)
            raise
        resumed = False
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None and not reused:
            resumed = bool(ssl_object.session_reused)
            self.stats.tls_resumed += resumed
            # TLS 1.3 tickets arrive after the handshake; by now the response has been read.
            if ssl_object.session is not None:
                self._sessions[target] = ssl_object.session
        if reusable and not writer.is_closing() and len(idle) < self.max_idle:
            connection.since = asyncio.get_running_loop().time()
            idle.append(connection)
        else:
            _drop(writer)
        return HttpResponse(response.status, response.headers, response.body, reused, resumed)

    def _idle_of(self, target: Target) -> deque[_Idle]:
        loop = asyncio.get_running_loop()
        per_loop = self._idle.get(loop)
        if per_loop is None:
            for other in [other for other in self._idle if other.is_closed()]:
                del self._idle[other]
            per_loop = self._idle[loop] = {}
        return per_loop.setdefault(target, deque())

    def _take(self, idle: deque[_Idle]) -> _Idle | None:
        """The newest live idle connection; closes the expired and the dead on the way."""
        oldest_allowed = asyncio.get_running_loop().time() - self.idle_timeout
        while idle and idle[0].since < oldest_allowed:
            _drop(idle.popleft().writer)
        while idle:
            connection = idle.pop()
            if connection.reader.at_eof() or connection.writer.is_closing():
                _drop(connection.writer)
                continue
            return connection
        return None

    async def close(self) -> None:
        """Close every idle connection of the running loop."""
        loop = asyncio.get_running_loop()
        writers = [c.writer for idle in self._idle.pop(loop, {}).values() for c in idle]
        await asyncio.gather(*(_discard(writer) for writer in writers))
