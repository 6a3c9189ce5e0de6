"""The HTTP client under the XKS connectors, against a scripted server on 127.0.0.1.

Framing (chunked, to end of stream, limits), the keep-alive pool's bookkeeping (a connection
the server closed while it idled, bytes nobody asked for, several event loops one after
another) and cancellation mid-request, which must leave no socket open and nothing registered
with the loop.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmscks.connectors.http_client import MAX_RESPONSE_BYTES, ConnectionPool, HttpResponse, post
from kmscks.connectors.http_connection import Failure, HttpFailure, Target, client_tls_context
from tests.helpers.proxies import Tls
from tests.helpers.scripted_server import Script, ScriptedServer, http_response

TIMEOUT = 5.0  # not about deadlines: a loaded 2-core machine must not time these out
OK = http_response(200, b'{"ok":true}')
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-Field: x\r\n\r\n"
)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer(Script(OK))
    try:
        yield scripted
    finally:
        scripted.close()


def _target(server: ScriptedServer) -> Target:
    return Target("127.0.0.1", server.port, "scripted.test", None)


def _posts(pool: ConnectionPool, target: Target, count: int) -> list[HttpResponse]:
    async def run() -> list[HttpResponse]:
        try:
            return [await pool.post(target, "/p", {}, b"{}", TIMEOUT) for _ in range(count)]
        finally:
            await pool.close()

    return asyncio.run(run())


def test_a_chunked_answer_is_joined_and_keeps_the_connection(server: ScriptedServer) -> None:
    server.script = Script(CHUNKED)
    responses = _posts(ConnectionPool(), _target(server), 2)
    assert [response.body for response in responses] == [b"hello world"] * 2
    assert [response.reused_connection for response in responses] == [False, True]
    assert server.connections == 1


def test_the_one_shot_post_reads_chunked_answers_too(server: ScriptedServer) -> None:
    server.script = Script(CHUNKED)
    response = asyncio.run(post(_target(server), "/p", {}, b"{}", TIMEOUT))
    assert (response.status, response.body) == (200, b"hello world")
    assert b"Connection: close" in server.requests[0]


def test_an_answer_without_length_is_read_to_the_end_and_not_kept(
    server: ScriptedServer,
) -> None:
    server.script = Script(b"HTTP/1.1 200 OK\r\n\r\nto the end", close_after_answer=True)
    responses = _posts(ConnectionPool(), _target(server), 2)
    assert [response.body for response in responses] == [b"to the end"] * 2
    assert server.connections == 2


def test_bytes_after_the_answer_are_not_taken_for_the_next_one(server: ScriptedServer) -> None:
    server.script = Script(OK + b"HTTP/1.1 200 junk")
    responses = _posts(ConnectionPool(), _target(server), 2)
    assert [response.reused_connection for response in responses] == [False, False]
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "response head too long"),
        (
            f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_RESPONSE_BYTES + 1}\r\n\r\n".encode(),
            "response body too large",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "truncated or malformed"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP status line"),
    ],
)
def test_answers_that_are_not_usable_http_are_malformed(
    server: ScriptedServer, answer: bytes, detail: str
) -> None:
    server.script = Script(answer, close_after_answer=True)
    with pytest.raises(HttpFailure) as raised:
        _posts(ConnectionPool(), _target(server), 1)
    assert raised.value.failure is Failure.MALFORMED
    assert detail in raised.value.detail
    assert raised.value.answered


def test_a_connection_closed_while_idle_is_dropped_before_use(server: ScriptedServer) -> None:
    server.script = Script(OK, close_after_answer=True)
    pool, target = ConnectionPool(), _target(server)

    async def run() -> list[HttpResponse]:
        try:
            first = await pool.post(target, "/p", {}, b"{}", TIMEOUT)
            await asyncio.sleep(0.1)  # the close arrives while the connection idles
            return [first, await pool.post(target, "/p", {}, b"{}", TIMEOUT)]
        finally:
            await pool.close()

    responses = asyncio.run(run())
    assert [response.reused_connection for response in responses] == [False, False]
    # Noticed before sending: not a stale connection, and the server saw each request once.
    assert (pool.stats.opened, pool.stats.reused, pool.stats.stale) == (2, 0, 0)
    assert (server.connections, len(server.requests)) == (2, 2)


def test_kept_connections_serve_loop_after_loop(server: ScriptedServer) -> None:
    pool, target = ConnectionPool(), _target(server)

    async def one() -> HttpResponse:
        return await pool.post(target, "/p", {}, b"{}", TIMEOUT)

    responses = [asyncio.run(one()) for _ in range(3)]
    asyncio.run(pool.close())
    assert [response.reused_connection for response in responses] == [False, True, True]
    assert server.connections == 1


def _connections_to(port: int) -> int:
    """Open client sockets of this process to `port` (the scripted server runs in it too)."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            # Sockets only: socket.fromfd duplicates the descriptor first, and for anything
            # else its constructor fails with the duplicate left open. Leaked duplicates of
            # the write ends of other fixtures' pipes (the CLI fork servers' stdin) kept those
            # servers from ever seeing the end of their input: 60 s at every session's end.
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            with socket.fromfd(int(name), socket.AF_INET, socket.SOCK_STREAM) as sock:
                count += sock.getpeername()[1] == port
        except (OSError, IndexError, TypeError):
            continue  # not a connected socket, or the listing's own descriptor, gone
    return count


@pytest.mark.parametrize("pooled", [True, False])
def test_a_cancelled_request_leaves_no_socket_and_no_callback(
    server: ScriptedServer, pooled: bool
) -> None:
    server.script = Script(OK, stall_after=0)  # reads the request, never answers
    pool, target = ConnectionPool(), _target(server)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        watched = set(loop._selector.get_map())  # type: ignore[attr-defined]
        send = pool.post if pooled else post
        task = asyncio.create_task(send(target, "/p", {}, b"{}", TIMEOUT))
        while not server.requests:
            await asyncio.sleep(0.01)
        assert _connections_to(server.port) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert set(loop._selector.get_map()) == watched  # type: ignore[attr-defined]
        assert _connections_to(server.port) == 0
        assert pool.stats.reused == 0 and not any(pool._idle.values())

    asyncio.run(run())
    gc.collect()  # an unclosed socket would warn here, and warnings fail the tests


@pytest.mark.parametrize("tls", [False, True])
def test_a_request_larger_than_the_socket_buffers_waits_to_be_written(
    tmp_path: Path, tls: bool
) -> None:
    files = Tls.create(tmp_path)
    server = ScriptedServer(Script(OK), files.server_context("scripted.test") if tls else None)
    context = client_tls_context(files.ca_path, None, None) if tls else None
    target = Target("127.0.0.1", server.port, "scripted.test", context)
    body = os.urandom(8 << 20)
    try:
        responses = _posts(ConnectionPool(), target, 2)
        big = asyncio.run(post(target, "/p", {}, body, TIMEOUT))
    finally:
        server.close()
    assert [response.status for response in [*responses, big]] == [200, 200, 200]
    assert server.requests[-1].endswith(body)
