"""One client TCP (and TLS) connection, driven by the running loop's readiness callbacks.

connectors layer, under http_client.py; imports only the standard library. A connection is a
non-blocking socket; TLS is the ssl module's own socket (`SSLContext.wrap_socket`), so OpenSSL
does the record layer in C and a saved session is offered directly (`session=`). Each call tries
the socket first and only waits when it would block: one future and one timer at the request's
deadline per wait. The socket stays registered for reading with the loop that last used it and
moves to whichever loop waits on it next, so a pool's idle connection may serve any later loop.

Opening says which phase failed (resolve, TCP connect, TLS handshake), as `HttpFailure`s whose
`Failure` kinds the XKS connectors map to KMS's answers; a passed deadline raises
`DeadlinePassed` and the caller words it from the `Progress` the request made.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

RECEIVE_SIZE = 65536


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


class DeadlinePassed(Exception):
    """The request's deadline passed while it waited on the socket."""


class Deadline:
    """When a request must be done (`at`, on its loop's clock), and that loop: fetched once per
    request, since each asyncio.get_running_loop() costs a getpid() system call in 3.11."""

    __slots__ = ("at", "loop", "started")

    def __init__(self, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.at = self.started + timeout


@dataclass
class Progress:
    """How far a request got: its phase (connect, tls, response) and whether bytes came back."""

    phase: str = "connect"
    answered: bool = False


@dataclass(frozen=True)
class Target:
    """Where to connect, and who to expect there."""

    connect_host: str
    connect_port: int
    host_header: str  # also the TLS server name
    tls: ssl.SSLContext | None


def client_tls_context(
    ca_bundle: Path | None, client_cert: Path | None, client_key: Path | None
) -> ssl.SSLContext:
    """What ssl.create_default_context gives a client, TLS 1.2+, plus our CAs and mTLS cert."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(DeadlinePassed())


class Connection:
    """An open connection; `since` is when it last went idle (the pool's clock).

    Its socket stays registered for reading with the loop that last waited on it (`loop`):
    registering and unregistering per request would cost more than the rest of the wait. A
    readiness callback that finds nobody waiting (the peer closed or wrote while the connection
    idled) unregisters it, so a level-triggered event cannot spin, and tells `alive` to look.

    For a response the callback does the read itself and hands the bytes over in the future.
    Were it only to wake the task, which runs one loop iteration later, the still unread bytes
    would be reported once more in that iteration, after the task had finished its request and
    begun the next, and the stale callback would wake the next request's wait for nothing (a
    failed read, a second wait: measured on every pooled call).
    """

    __slots__ = ("fd", "loop", "reading", "since", "sock", "waiter")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.since = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop watching for reading
        self.waiter: asyncio.Future[bytes] | None = None
        self.reading = False  # whether the readiness callback reads for the waiter

    @property
    def tls(self) -> ssl.SSLSocket | None:
        return self.sock if isinstance(self.sock, ssl.SSLSocket) else None

    def _on_readable(self) -> None:
        waiter = self.waiter
        if waiter is None:
            self._unwatch()
            return
        if waiter.done():  # by the deadline: its task is on its way out
            return
        if not self.reading:
            self.waiter = None
            waiter.set_result(b"")
            return
        try:
            data = self.sock.recv(RECEIVE_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError):
            return  # a TLS record not yet whole: wait on
        except Exception as error:  # reset, TLS failure, SSLWantWriteError: the reader's
            self.waiter = None
            waiter.set_exception(error)
            return
        self.waiter = None
        waiter.set_result(data)

    def _unwatch(self) -> None:
        if self.loop is not None:
            self.loop.remove_reader(self.fd)  # a no-op on a closed loop
            self.loop = None

    async def _readable(self, deadline: Deadline, reading: bool = False) -> bytes:
        """Wait until the socket is readable (and with `reading`, return what it read then),
        or raise DeadlinePassed at the deadline."""
        loop = deadline.loop
        if self.loop is not loop:
            self._unwatch()
            loop.add_reader(self.fd, self._on_readable)
            self.loop = loop
        waiter = self.waiter = loop.create_future()
        self.reading = reading
        timer = loop.call_at(deadline.at, _expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # failed as the task was cancelled: retrieved, not logged
            raise
        finally:
            self.waiter = None
            timer.cancel()

    async def _writable(self, deadline: Deadline) -> None:
        """Wait until the socket takes more bytes (rare: requests are small)."""
        loop = deadline.loop
        waiter = loop.create_future()
        loop.add_writer(self.fd, _wake, waiter)
        timer = loop.call_at(deadline.at, _expire, waiter)
        try:
            await waiter
        finally:  # also on cancellation: nothing of this wait stays registered with the loop
            timer.cancel()
            loop.remove_writer(self.fd)

    async def handshake(self, deadline: Deadline) -> None:
        sock = self.sock
        assert isinstance(sock, ssl.SSLSocket)
        while True:
            try:
                sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                await self._readable(deadline)
            except ssl.SSLWantWriteError:
                await self._writable(deadline)

    async def send(self, data: bytes, deadline: Deadline) -> None:
        view = memoryview(data)
        while view:
            try:
                # A TLS write that would block is retried with the same bytes, as OpenSSL wants.
                sent = self.sock.send(view)
            except (BlockingIOError, ssl.SSLWantWriteError):
                await self._writable(deadline)
                continue
            except ssl.SSLWantReadError:
                await self._readable(deadline)
                continue
            view = view[sent:]

    async def receive(self, deadline: Deadline, wait_first: bool = False) -> bytes:
        """The next bytes that arrive, b'' at the end of the stream. `wait_first` skips the
        attempt that would only fail (just after a request went out), unless TLS holds bytes
        it already decrypted (their socket need not be readable)."""
        sock = self.sock
        try_first = not wait_first or (isinstance(sock, ssl.SSLSocket) and sock.pending() > 0)
        while True:
            try:
                if try_first:
                    try:
                        return sock.recv(RECEIVE_SIZE)
                    except (BlockingIOError, ssl.SSLWantReadError):
                        pass
                return await self._readable(deadline, reading=True)
            except ssl.SSLWantWriteError:
                await self._writable(deadline)
                try_first = True

    def alive(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether an idle connection may still carry a request: the peer has not closed it,
        and a plain one holds no bytes nobody asked for (TLS may carry a late session ticket).

        Still watched by `loop` (the running one), nothing has happened on it since the loop last
        polled; otherwise a peek at the raw socket (not TLS) says whether FIN (b'') or data
        waits. A close the loop has not polled yet shows as a stale connection on use."""
        if self.loop is loop:
            return True
        try:
            data = socket.socket.recv(self.sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return bool(data) and self.tls is not None

    def close(self) -> None:
        """Close at once, without a TLS close_notify (responses are framed, none is needed),
        and leave no callback of it registered with a loop."""
        self._unwatch()
        self.sock.close()


async def open_connection(
    target: Target, deadline: Deadline, progress: Progress, session: ssl.SSLSession | None = None
) -> Connection:
    """Resolve, connect and (with TLS) handshake, offering `session` for resumption; raises
    HttpFailure for a failed phase, DeadlinePassed with the phase it reached in `progress`."""
    progress.phase = "connect"
    sock = await _tcp_connect(target, deadline)
    if target.tls is None:
        progress.phase = "response"
        return Connection(sock)
    progress.phase = "tls"
    try:
        tls_sock = target.tls.wrap_socket(
            sock, server_hostname=target.host_header, do_handshake_on_connect=False, session=session
        )
    except BaseException:
        sock.close()
        raise
    connection = Connection(tls_sock)
    try:
        await connection.handshake(deadline)
    except BaseException as error:
        connection.close()
        if isinstance(error, ssl.SSLError):
            raise HttpFailure(Failure.TLS, _tls_failure(target, error))
        if isinstance(error, OSError):  # ConnectionError included
            raise HttpFailure(Failure.TLS, f"connection lost during handshake: {error}")
        raise
    progress.phase = "response"
    return connection


async def _tcp_connect(target: Target, deadline: Deadline) -> socket.socket:
    loop = deadline.loop
    try:
        async with asyncio.timeout_at(deadline.at):  # rare: asyncio's own timeout will do
            addresses = await _resolve(target, loop)
            errors: list[OSError] = []
            for family, kind, proto, _, address in addresses:
                sock = socket.socket(family, kind, proto)
                try:
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    await loop.sock_connect(sock, address)
                    return sock
                except OSError as error:
                    sock.close()
                    errors.append(error)
                except BaseException:
                    sock.close()
                    raise
    except TimeoutError:
        raise DeadlinePassed()
    raise HttpFailure(Failure.REFUSED, _connect_failure(target, errors[0]))


async def _resolve(target: Target, loop: asyncio.AbstractEventLoop) -> list[tuple[Any, ...]]:
    host, port = target.connect_host, target.connect_port
    try:
        # An address needs no resolver thread; only names go to loop.getaddrinfo.
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass
    try:
        addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise HttpFailure(Failure.UNRESOLVABLE, f"cannot resolve {host}: {error}")
    if not addresses:
        raise HttpFailure(Failure.UNRESOLVABLE, f"cannot resolve {host}: no address")
    return addresses


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
