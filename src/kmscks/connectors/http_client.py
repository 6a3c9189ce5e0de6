"""A small asyncio HTTP/1.1 client that says in which phase a request failed.

connectors layer; imports only the standard library and http_connection.py (the socket, TLS
and waiting under a deadline). KMS tells a refused connection from a TLS failure from a proxy
that accepted the connection but did not answer in time (contract xks-proxy.md §2.2), so this
client runs the phases separately (resolve, TCP connect, TLS handshake, request/response) under
one deadline and reports the phase of a failure.

Two ways to send, over the same connection code: `post` opens one connection per request (the
health call of Create, Update and Connect, which should test the whole path every time), and
`ConnectionPool.post` keeps connections alive per target and resumes TLS sessions (the key
operations, where a fresh TCP and TLS handshake per call would cost more than the proxy's work).
A fresh connection of the pool fails with the same distinctions as `post`. The body is read by
Content-Length, chunked encoding or to end of stream.
"""

from __future__ import annotations

import ssl
from collections import deque
from dataclasses import dataclass

from kmscks.connectors.http_connection import (
    Connection,
    Deadline,
    DeadlinePassed,
    Failure,
    HttpFailure,
    Progress,
    Target,
    open_connection,
)

MAX_RESPONSE_BYTES = 1 << 20
MAX_HEAD_BYTES = 1 << 16
MAX_IDLE_PER_TARGET = 16
IDLE_TIMEOUT_SECONDS = 20.0  # below the bundled proxy's 60 s, so the proxy rarely closes first


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    reused_connection: bool = False  # sent on a pooled connection that had served before
    tls_resumed: bool = False  # a handshake made for this request resumed an earlier session


class _Closed(Exception):
    """The connection closed or reset before any response byte: stale if it was pooled."""


def _request_bytes(path: str, headers: dict[str, str], body: bytes, keep_alive: bool) -> bytes:
    connection = "" if keep_alive else "Connection: close\r\n"  # HTTP/1.1 keeps alive by default
    return (
        f"POST {path} HTTP/1.1\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + f"Content-Length: {len(body)}\r\n{connection}\r\n"
    ).encode("latin-1") + body


class _Truncated(Exception):
    """The stream ended inside the response body."""


class _Reader:
    """A response being read: the bytes received so far, and more on demand."""

    __slots__ = ("buffer", "connection", "deadline", "end")

    def __init__(self, connection: Connection, deadline: Deadline, buffer: bytearray) -> None:
        self.connection = connection
        self.deadline = deadline
        self.buffer = buffer
        self.end = 0  # where the response ends in the buffer, once read

    async def more(self) -> bool:
        """Append what arrives next; False at the end of the stream."""
        data = await self.connection.receive(self.deadline)
        self.buffer += data
        return bool(data)

    async def fill(self, size: int) -> None:
        while len(self.buffer) < size:
            if not await self.more():
                raise _Truncated()

    async def line_end(self, start: int) -> int:
        """The index of the CRLF that ends the line starting at `start`."""
        while (end := self.buffer.find(b"\r\n", start)) < 0:
            if len(self.buffer) - start > MAX_HEAD_BYTES:
                raise ValueError("line too long")
            if not await self.more():
                raise _Truncated()
        return end


async def _read_head(
    connection: Connection, deadline: Deadline, progress: Progress
) -> tuple[_Reader, int]:
    """Read past the end of the response head, and say where it ends (its blank line);
    tells a connection that closed before any byte from a truncated head."""
    reader = _Reader(connection, deadline, bytearray())
    buffer = reader.buffer
    searched = 0
    # The request just went out: its answer is rarely there yet (~6% of XKS Encrypts in
    # bench/crypto_cost.py), so a read that would fail is not worth trying first.
    wait_first = True
    while (head_end := buffer.find(b"\r\n\r\n", searched)) < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise HttpFailure(Failure.MALFORMED, "response head too long", answered=True)
        searched = max(0, len(buffer) - 3)
        data = await connection.receive(deadline, wait_first)
        wait_first = False
        if not data:
            if not progress.answered:
                raise _Closed("connection closed before any response")
            raise HttpFailure(Failure.MALFORMED, "incomplete response head", answered=True)
        progress.answered = True
        buffer += data
    if head_end > MAX_HEAD_BYTES:
        raise HttpFailure(Failure.MALFORMED, "response head too long", answered=True)
    return reader, head_end


async def _read_body(reader: _Reader, start: int, headers: dict[str, str]) -> bytes:
    """The body that starts at `start` of the buffer; sets `reader.end` behind it."""
    buffer = reader.buffer
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        total = 0
        position = start
        while True:
            end = await reader.line_end(position)
            size = int(bytes(buffer[position:end]).split(b";")[0].strip(), 16)
            position = end + 2
            if size == 0:
                while (end := await reader.line_end(position)) != position:  # trailer fields
                    position = end + 2
                position += 2
                break
            if size < 0:
                raise ValueError("negative chunk size")
            total += size
            if total > MAX_RESPONSE_BYTES:
                raise HttpFailure(Failure.MALFORMED, "response body too large", answered=True)
            await reader.fill(position + size + 2)
            if buffer[position + size : position + size + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            chunks.append(bytes(buffer[position : position + size]))
            position += size + 2
        body = b"".join(chunks)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_RESPONSE_BYTES:
            raise HttpFailure(Failure.MALFORMED, "response body too large", answered=True)
        if length < 0:
            raise ValueError("negative Content-Length")
        position = start + length
        await reader.fill(position)
        body = bytes(buffer[start:position])
    else:
        while await reader.more():
            if len(buffer) - start > MAX_RESPONSE_BYTES:
                raise HttpFailure(Failure.MALFORMED, "response body too large", answered=True)
        position = len(buffer)
        body = bytes(buffer[start:])
    reader.end = position
    return body


async def _exchange(
    connection: Connection, request: bytes, deadline: Deadline, progress: Progress
) -> tuple[int, dict[str, str], bytes, bool]:
    """Send `request`, read one response: its status, headers, body and whether the connection
    may carry another request."""
    try:
        await connection.send(request, deadline)
        reader, head_end = await _read_head(connection, deadline, progress)
        lines = reader.buffer[:head_end].decode("latin-1").split("\r\n")
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
            body = await _read_body(reader, head_end + 4, headers)
        except (ValueError, _Truncated):
            raise HttpFailure(
                Failure.MALFORMED, "truncated or malformed response body", answered=True
            )
    except (ConnectionResetError, BrokenPipeError) as error:
        if not progress.answered:
            raise _Closed(str(error) or type(error).__name__)
        raise HttpFailure(Failure.REFUSED, str(error), answered=True)
    connection_header = headers.get("connection", "").lower()
    reusable = (
        len(reader.buffer) == reader.end  # bytes nobody asked for would pass for the next answer
        and ("content-length" in headers or "chunked" in headers.get("transfer-encoding", ""))
        and "close" not in connection_header
        and (parts[0] == "HTTP/1.1" or "keep-alive" in connection_header)
    )
    return int(parts[1]), headers, body, reusable


def _timed_out(target: Target, progress: Progress, timeout: float) -> HttpFailure:
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


async def post(
    target: Target, path: str, headers: dict[str, str], body: bytes, timeout: float
) -> HttpResponse:
    """POST `body` on a connection of its own and return the response, or raise HttpFailure."""
    request = _request_bytes(path, headers, body, keep_alive=False)
    progress = Progress()
    deadline = Deadline(timeout)
    connection: Connection | None = None
    try:
        connection = await open_connection(target, deadline, progress)
        try:
            status, response_headers, response_body, _ = await _exchange(
                connection, request, deadline, progress
            )
        except _Closed as closed:
            # Accepted, then closed without a byte: the proxy is not serving.
            raise HttpFailure(Failure.REFUSED, str(closed))
        except ssl.SSLError as error:
            raise HttpFailure(Failure.TLS, error.reason or str(error), progress.answered)
        return HttpResponse(status, response_headers, response_body)
    except DeadlinePassed:
        raise _timed_out(target, progress, timeout)
    finally:
        if connection is not None:
            connection.close()


@dataclass
class PoolStats:
    """Counters for tests and benchmarks."""

    opened: int = 0  # fresh connections that completed TCP (and TLS)
    reused: int = 0  # requests sent on an idle pooled connection
    stale: int = 0  # pooled connections found dead before any response byte, then replaced
    tls_resumed: int = 0  # fresh TLS connections that resumed a saved session


class ConnectionPool:
    """Keep-alive connections per target, with TLS session resumption.

    A request takes the most recently used idle connection of its target, or opens one. If a
    pooled connection turns out dead before any response byte (the proxy closed it while it
    idled), the request goes once more on a fresh connection within the same deadline: that is
    not a network-timeout retry, and a request that reached the proxy gets no second try.
    After a response the connection goes back idle if both sides allow keep-alive and fewer
    than `max_idle` connections of the target idle; idle ones older than `idle_timeout` close.
    An idle connection stays registered with the loop that last used it and moves to any
    other loop that uses it next (http_connection.Connection).
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
        self._idle: dict[Target, deque[Connection]] = {}
        # The newest session per target (plain data, offered to the target's next handshake).
        self._sessions: dict[Target, ssl.SSLSession] = {}

    async def post(
        self, target: Target, path: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> HttpResponse:
        """POST `body` to `target` and return the response, or raise HttpFailure."""
        request = _request_bytes(path, headers, body, keep_alive=True)
        deadline = Deadline(timeout)
        idle = self._idle.get(target)
        if idle is None:
            idle = self._idle[target] = deque()
        progress = Progress()
        try:
            pooled = self._take(idle, deadline)
            if pooled is not None:
                self.stats.reused += 1
                progress.phase = "response"
                try:
                    return await self._send(target, pooled, request, deadline, progress, True)
                except _Closed:
                    self.stats.stale += 1
                    progress = Progress()
            session = self._sessions.get(target) if self.resume_tls else None
            fresh = await open_connection(target, deadline, progress, session)
            self.stats.opened += 1
            try:
                return await self._send(target, fresh, request, deadline, progress, False)
            except _Closed as closed:
                raise HttpFailure(Failure.REFUSED, str(closed))
        except DeadlinePassed:
            raise _timed_out(target, progress, timeout)

    async def _send(
        self,
        target: Target,
        connection: Connection,
        request: bytes,
        deadline: Deadline,
        progress: Progress,
        reused: bool,
    ) -> HttpResponse:
        try:
            status, headers, body, reusable = await _exchange(
                connection, request, deadline, progress
            )
        except ssl.SSLError as error:
            connection.close()
            if reused and not progress.answered:
                raise _Closed(error.reason or str(error))
            raise HttpFailure(Failure.TLS, error.reason or str(error), progress.answered)
        except BaseException:  # failures, the deadline, cancellation: never reuse it
            connection.close()
            raise
        resumed = False
        tls = connection.tls
        if tls is not None and not reused:
            resumed = bool(tls.session_reused)
            self.stats.tls_resumed += resumed
            # TLS 1.3 tickets arrive after the handshake; by now the response has been read.
            if tls.session is not None:
                self._sessions[target] = tls.session
        idle = self._idle[target]
        if reusable and len(idle) < self.max_idle:
            connection.since = deadline.loop.time()
            idle.append(connection)
        else:
            connection.close()
        return HttpResponse(status, headers, body, reused, resumed)

    def _take(self, idle: deque[Connection], deadline: Deadline) -> Connection | None:
        """The newest live idle connection; closes the expired and the dead on the way."""
        oldest_allowed = deadline.started - self.idle_timeout
        while idle and idle[0].since < oldest_allowed:
            idle.popleft().close()
        while idle:
            connection = idle.pop()
            if connection.alive(deadline.loop):
                return connection
            connection.close()
        return None

    async def close(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()
