"""The RSGI adapter: granian hands requests to a RequestHandler.

api layer. Chosen by measurement (docs/benchmarks.md): granian's RSGI interface has the least
overhead per request of the stacks measured. Start-up and shutdown hooks run the process's
background work (the transition worker) on granian's event loop.

granian parses HTTP/1.1 (a malformed Content-Length or request line is its own 400) and times
out slow headers (server.py gives it the limits); the limits it lacks are enforced here
(docs/operations.md): the request size, checked on Content-Length before any byte of the body
is read and counted while a chunked body streams in, and the time a body may take to arrive,
and the memory that the bodies being read at once may take (a budget per worker), and the
size of the request line and headers: granian's own buffer limit lets a head through that
is up to one socket read larger (measured: up to 112 KiB at a 64 KiB limit), so the exact
limit is checked here.
A body that cannot be read (a bad chunk size, a client that closed mid-body) is a 400.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmscks import __version__
from kmscks.api.handler import RequestHandler, Response

log = logging.getLogger(__name__)

MIB = 1024 * 1024
_UNREADABLE = "The request body could not be read (malformed or truncated)."


# Bodies up to this size never wait for the buffer budget: every real KMS request is smaller.
SMALL_BODY = 64 * 1024


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int = MIB
    timeout_seconds: float = 10.0
    # Bytes beyond the first SMALL_BODY of each body, summed over the bodies being read at
    # once: bounds a worker's memory however many clients send large bodies together.
    buffer_budget: int = 16 * MIB
    # The request line and headers (not the body, but checked here with the body's limits).
    max_head_bytes: int = 64 * 1024


class _TooLarge(Exception):
    pass


class _Busy(Exception):
    pass


class _Unreadable(Exception):
    pass


# Every response names the server and its version (one constant: no per-request work).
SERVER_HEADER = ("server", f"cks/{__version__}")

_JOIN = "".join


def head_size(scope: Any, headers: Any) -> int:
    """The size of the request line and headers in their usual form: `METHOD target
    HTTP/1.1` CRLF, `name: value` CRLF for each header, the blank line. Exact for such a head;
    granian hands over the path percent-decoded and the values without surrounding spaces, so
    those count as decoded. ~0.7 us for a signed KMS request's ten headers (measured in a
    granian worker), where a dict copy of the headers would cost ~10 us."""
    names = headers.keys()
    query = scope.query_string
    return (
        len(scope.method)
        + len(scope.path)
        + (len(query) + 1 if query else 0)
        + 14  # two spaces, "HTTP/1.1", CRLF, and the blank line's CRLF
        + len(_JOIN(names))
        + len(_JOIN(headers.values()))
        + 4 * len(names)  # ": " and CRLF
    )


def _send(protocol: Any, response: Response) -> None:
    status, headers, payload = response
    headers.append(SERVER_HEADER)
    protocol.response_bytes(status, headers, payload)


class RsgiApp:
    def __init__(
        self,
        handler: RequestHandler,
        on_start: Callable[[asyncio.AbstractEventLoop], None] = lambda loop: None,
        on_stop: Callable[[], None] = lambda: None,
        limits: BodyLimits | None = None,
    ) -> None:
        self._handler = handler
        self._on_start = on_start
        self._on_stop = on_stop
        self._limits = limits or BodyLimits()
        # Body reads in flight -> the watchdog tick they started in. One watchdog per process
        # cancels the stalled ones: an asyncio.timeout per request cost ~10 us, this ~0.3 us.
        self._reads: dict[asyncio.Task[Any], int] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._tick = 0
        self._held = 0  # bytes of the buffer budget taken by the bodies being read
        self._watchdog: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._watchdog = loop.create_task(self._watch_reads())
        self._on_start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._on_stop()

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        headers = scope.headers  # read in place (HeaderLookup): a dict copy costs ~10 us
        if head_size(scope, headers) > self._limits.max_head_bytes:
            message = (
                f"The request line and headers are larger than {self._limits.max_head_bytes} bytes."
            )
            _send(protocol, self._handler.refuse(headers, 431, "ValidationException", message))
            return
        try:
            body = await self._read_body(headers, protocol)
        except _TooLarge:
            # No model names an error for this; AWS's common one for a bad request.
            message = f"The request is larger than {self._limits.max_bytes} bytes."
            _send(protocol, self._handler.refuse(headers, 413, "ValidationException", message))
            return
        except _Unreadable as reason:
            refusal = self._handler.refuse(headers, 400, "SerializationException", str(reason))
            _send(protocol, refusal)
            return
        except _Busy:
            # A 400 that the SDKs retry with backoff (as for the request quota).
            message = "Too many large requests are being read at once. Retry the request."
            _send(protocol, self._handler.refuse(headers, 400, "ThrottlingException", message))
            return
        if "host" not in headers and getattr(scope, "authority", None):
            # HTTP/2 carries the host as :authority; SigV4 signs it as `host`.
            headers = {**dict(headers.items()), "host": scope.authority}
        status, response_headers, payload = await self._handler.handle(
            scope.method, scope.path, scope.query_string, headers, body
        )
        _send(protocol, (status, response_headers, payload))

    async def _read_body(self, headers: Any, protocol: Any) -> bytes:
        announced = headers.get("content-length")
        # granian answers 400 to a Content-Length that is not all digits, so int() is safe.
        length = None if announced is None else int(announced)
        if length is not None and length > self._limits.max_bytes:
            raise _TooLarge  # answered before the body is read: a 1 TB claim costs nothing
        # With the loop given, current_task skips get_running_loop's per-call getpid().
        task = asyncio.current_task(self._loop)
        assert task is not None
        held = [0]  # of the buffer budget, given back when the body is read or refused
        self._reads[task] = self._tick
        try:
            if length is not None:
                if length > SMALL_BODY:
                    self._hold(held, length)
                return await protocol()
            return await self._read_stream(protocol, held)
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            self._expired.discard(task)
            task.uncancel()
            raise _Unreadable(
                f"The request body did not arrive within {self._limits.timeout_seconds:g} seconds."
            )
        except (_TooLarge, _Unreadable, _Busy):
            raise
        except Exception as error:
            # granian's RSGIProtocolClosed / RSGIProtocolError: a bad chunk size, or a client
            # that closed before the body ended. The client may still read an answer.
            log.debug("unreadable request body: %s", error)
            raise _Unreadable(_UNREADABLE)
        finally:
            del self._reads[task]
            self._held -= held[0]

    def _hold(self, held: list[int], size: int) -> None:
        """Take what a body of `size` bytes needs of the buffer budget, or refuse it (_Busy)."""
        wanted = max(0, size - SMALL_BODY) - held[0]
        if wanted <= 0:
            return
        if self._held + wanted > self._limits.buffer_budget:
            raise _Busy
        self._held += wanted
        held[0] += wanted

    async def _read_stream(self, protocol: Any, held: list[int]) -> bytes:
        """A body without Content-Length (chunked): stop reading once it passes the cap.

        granian's body stream does not raise on a bad chunk size or a truncated body: it ends
        with an extra empty chunk (a good stream ends with exactly one). Measured on granian
        2.8; tests/core/test_framing_serve.py holds both cases, so an upgrade that changes it
        fails there.
        """
        chunks: list[bytes] = []
        size = 0
        empty = 0
        async for chunk in protocol:
            if not chunk:
                empty += 1
                continue
            if empty:
                raise _Unreadable(_UNREADABLE)  # data after the end marker
            size += len(chunk)
            if size > self._limits.max_bytes:
                raise _TooLarge
            self._hold(held, size)
            chunks.append(chunk)
        if empty != 1:
            raise _Unreadable(_UNREADABLE)
        return b"".join(chunks)

    async def _watch_reads(self) -> None:
        """Cancel body reads that have taken longer than the body timeout (1 s resolution)."""
        limit_ticks = max(1, round(self._limits.timeout_seconds))
        while True:
            await asyncio.sleep(1.0)
            self._tick += 1
            for task, started in list(self._reads.items()):
                if self._tick - started > limit_ticks and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()
            # A read that ended between its cancel and the CancelledError leaves no trace.
            self._expired.intersection_update(self._reads)
