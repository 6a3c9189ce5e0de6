"""Raw HTTP/1.1 framing against `cks serve`: chunked errors, Content-Length variants, header
injection, oversized requests and slow clients. Every answer is a 4xx (an AWS error body when
the request reached the adapter) or a closed connection, never a 500 or a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmscks.config import ConfigError, HttpLimits, load_config
from tests.fuzz.wire import SignedClient, body_of, exchange, status_of
from tests.helpers.clients import unique_region
from tests.helpers.server import ServerProcess, start_cks_server

MAX_REQUEST = 64 * 1024
LIMITS = f"""
[limits]
max_request_bytes = {MAX_REQUEST}
max_header_bytes = 16384
header_timeout_seconds = 1
body_timeout_seconds = 1
http2 = false
"""
HEAD = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"X-Amz-Target: TrentService.DescribeCustomKeyStores\r\n"
    b"Content-Type: application/x-amz-json-1.1\r\n"
)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_cks_server(tmp_path_factory.mktemp("framing"), LIMITS)
    yield server
    server.stop()


def still_serves(server: ServerProcess) -> None:
    client = SignedClient(server.port, unique_region())
    try:
        assert client.call("DescribeCustomKeyStores", {}).status == 200
    finally:
        client.close()


def aws_error(answer: bytes, status: int, error_type: str) -> None:
    assert status_of(answer) == status, answer[:300]
    assert body_of(answer)["__type"] == error_type


@pytest.mark.parametrize(
    "body",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}\r\nzz\r\n", b"2\r\n{}\r\n0x\r\n\r\n"],
    ids=["bad-size", "bad-second-size", "bad-last-size"],
)
def test_malformed_chunked_body_is_a_400(limited: ServerProcess, body: bytes) -> None:
    answer = exchange(limited.port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body)
    aws_error(answer, 400, "SerializationException")
    assert b"Traceback" not in answer
    still_serves(limited)


@pytest.mark.parametrize(
    "request_bytes",
    [
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n10\r\n{}",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
        HEAD + b"Content-Length: 10\r\n\r\n{}",
    ],
    ids=["mid-chunk", "before-last-chunk", "short-content-length"],
)
def test_truncated_then_closed_body_is_a_400(limited: ServerProcess, request_bytes: bytes) -> None:
    answer = exchange(limited.port, request_bytes, half_close=True)
    aws_error(answer, 400, "SerializationException")


def test_a_valid_chunked_body_is_read(limited: ServerProcess) -> None:
    answer = exchange(
        limited.port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    # Unsigned, so the body reached authentication: the framing was accepted.
    aws_error(answer, 400, "MissingAuthenticationTokenException")


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: +2",
        b"Content-Length: 2_0",
        b"Content-Length : 2",
        b"Content-Length: -2",
        b"Content-Length: 2\r\nContent-Length: 3",
        b"Content-Length: 0x2",
        b"Content-Length: 2\r\nTransfer-Encoding: chunked",
        b"Transfer-Encoding: gzip",
        b"X-Injected: a\rb",
        b" X-Folded: a",
        b"X-Amz-Date\x00: 1",
    ],
)
def test_framing_errors_are_refused(limited: ServerProcess, header: bytes) -> None:
    answer = exchange(limited.port, HEAD + header + b"\r\n\r\n{}")
    # granian refuses most of these itself (an empty 400); a Content-Length beside
    # Transfer-Encoding: chunked is read as chunked (RFC 9112 §6.3), so "{}" is a bad chunk.
    assert status_of(answer) == 400, answer[:300]
    still_serves(limited)


def test_oversized_headers_are_refused(limited: ServerProcess) -> None:
    answer = exchange(limited.port, HEAD + b"X-Big: " + b"a" * 32768 + b"\r\n\r\n")
    assert status_of(answer) == 431, answer[:300]
    still_serves(limited)


def head_of(size: int) -> bytes:
    """A GET of the health page whose request line and headers are exactly `size` bytes."""
    start = b"GET /_cks/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Big: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def send_in_pieces(port: int, data: bytes, piece: int = 4096) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        try:
            for start in range(0, len(data), piece):
                sock.sendall(data[start : start + piece])
                time.sleep(0.002)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end: the answer is already there
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


@pytest.mark.parametrize("arrival", ["at-once", "in-pieces"])
def test_the_header_limit_is_exact(budgeted: ServerProcess, arrival: str) -> None:
    """max_header_bytes (default 65536) is the largest head served, however it arrives.
    granian's buffer limit alone let a head sent at once through up to 114688 bytes."""
    send = exchange if arrival == "at-once" else send_in_pieces
    limit = HttpLimits().max_header_bytes
    assert len(head_of(limit)) == limit
    answer = send(budgeted.port, head_of(limit))
    assert status_of(answer) == 200, answer[:300]
    answer = send(budgeted.port, head_of(limit + 1))
    assert status_of(answer) == 431, answer[:300]
    # cks's own refusal names the error; granian's (to a head still incomplete) is empty.
    assert (
        answer.partition(b"\r\n\r\n")[2] in (b"", b"<reset>")
        or body_of(answer)["__type"] == "ValidationException"
    ), answer[:300]
    answer = send(budgeted.port, head_of(100_000))
    assert status_of(answer) == 431, answer[:300]
    still_serves(budgeted)


def test_too_large_content_length_is_a_413_before_the_body(limited: ServerProcess) -> None:
    # A terabyte announced and never sent: answered at once, from the headers alone.
    answer = exchange(limited.port, HEAD + b"Content-Length: 1000000000000\r\n\r\n{")
    aws_error(answer, 413, "ValidationException")


def test_too_large_chunked_body_is_a_413(limited: ServerProcess) -> None:
    chunk = b"%x\r\n" % 32768 + b" " * 32768 + b"\r\n"
    answer = exchange(
        limited.port,
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n",
    )
    aws_error(answer, 413, "ValidationException")
    still_serves(limited)


def test_a_body_at_the_limit_is_served(limited: ServerProcess) -> None:
    client = SignedClient(limited.port, unique_region())
    body = b"{}" + b" " * (MAX_REQUEST - 2)
    try:
        assert client.send("TrentService.DescribeCustomKeyStores", body).status == 200
        answer = client.send("TrentService.DescribeCustomKeyStores", body + b" ")
        assert (answer.status, answer.error_type) == (413, "ValidationException")
    finally:
        client.close()


def test_slow_headers_are_cut_off(limited: ServerProcess) -> None:
    answer = exchange(limited.port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert b"<silent>" not in answer  # closed by the header timeout, not left open


def test_a_silent_connection_is_closed(limited: ServerProcess) -> None:
    assert b"<silent>" not in exchange(limited.port, b"")


def test_slow_body_is_a_400_after_the_body_timeout(limited: ServerProcess) -> None:
    answer = exchange(limited.port, HEAD + b"Content-Length: 100\r\n\r\n{")
    aws_error(answer, 400, "SerializationException")
    assert b"did not arrive" in answer


def test_slow_chunked_body_is_cut_off_too(limited: ServerProcess) -> None:
    answer = exchange(limited.port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n")
    aws_error(answer, 400, "SerializationException")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_request_bytes = 10", "limits.max_request_bytes must be at least 1024"),
        ("max_header_bytes = 100", "limits.max_header_bytes must be at least 8192"),
        ("body_timeout_seconds = 0.5", "limits.body_timeout_seconds must be of type int"),
        ("header_timeout_seconds = 0", "limits.header_timeout_seconds must be at least 0.1"),
        ("max_connections_per_worker = 0", "must be at least 1"),
        ('http2 = "no"', "limits.http2 must be of type bool"),
    ],
)
def test_bad_limits_stop_the_server(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "cks.toml"
    path.write_text(f"[limits]\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_limits_are_read(tmp_path: Path) -> None:
    path = tmp_path / "cks.toml"
    path.write_text(LIMITS)
    limits = load_config(path).http_limits
    assert (limits.max_request_bytes, limits.body_timeout_seconds, limits.http2) == (
        MAX_REQUEST,
        1,
        False,
    )
    assert load_config(None).http_limits == HttpLimits()


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = "[limits]\nmax_request_bytes = 4194304\nmax_body_buffer_bytes = 1048576\n"
    server = start_cks_server(tmp_path_factory.mktemp("budget"), config)
    yield server
    server.stop()


def test_a_body_over_the_buffer_budget_is_throttled(budgeted: ServerProcess) -> None:
    # Under max_request_bytes, but more than a worker may buffer at once: retry later.
    answer = exchange(budgeted.port, HEAD + b"Content-Length: 2097152\r\n\r\n{")
    aws_error(answer, 400, "ThrottlingException")
    chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
    answer = exchange(
        budgeted.port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n" + chunk * 20
    )
    aws_error(answer, 400, "ThrottlingException")
    # What was held is given back: a body within the budget is read again.
    client = SignedClient(budgeted.port, unique_region())
    try:
        body = b"{}" + b" " * (900 * 1024)
        assert client.send("TrentService.DescribeCustomKeyStores", body).status == 200
    finally:
        client.close()


def test_http2_is_off_by_default() -> None:
    """HTTP/2's protocol detection never times a silent connection out (docs/operations.md)."""
    assert HttpLimits().http2 is False
