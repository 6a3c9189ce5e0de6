"""Raw HTTP/1.1 framing against `cks xks-proxy`: Content-Length variants (the smuggling class),
header injection, bare LF, TLS bytes on the plain port, oversized requests, slow and idle
clients, and the connection cap. Each is answered 400 and closed at once, or closed by its
timeout, never left open until the idle timeout of a well-behaved connection."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from tests.fuzz.wire import exchange, status_of
from tests.xksproxy.conftest import SharedProxy
from tests.xksproxy.xks_helpers import ProxyProcess, make_tls, start_proxy, store_toml

LIMITS = """
[limits]
max_request_bytes = 4096
max_header_bytes = 2048
header_timeout_seconds = 1
body_timeout_seconds = 1
max_connections = 8
"""
PING = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
HEALTH = b"POST /software/kms/xks/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
def plain_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    text = "[server]\nidle_timeout_seconds = 2\n" + store_toml("/software", "software") + LIMITS
    proxy = start_proxy(tmp_path_factory.mktemp("framing-proxy"), text)
    yield proxy
    proxy.stop()


def refused(answer: bytes) -> None:
    assert b"<silent>" not in answer, answer  # answered at once, not after a timeout
    assert status_of(answer) == 400, answer[:300]
    assert b"Connection: close" in answer and b"ValidationException" in answer


def test_ping_answers(plain_proxy: ProxyProcess) -> None:
    answer = exchange(plain_proxy.port, PING + b"Connection: close\r\n\r\n")
    assert status_of(answer) == 200 and answer.endswith(b"pong")


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: +2",
        b"Content-Length: 2_0",
        b"Content-Length : 2",
        b"Content-Length\t: 2",
        b"Content-Length: -2",
        b"Content-Length: 0x2",
        b"Content-Length: 2 2",
        b"Content-Length: 2\r\nContent-Length: 3",
        b"Content-Length: 2, 3",
        b"Content-Length: 2\r\nTransfer-Encoding: chunked",
        b"Transfer-Encoding: chunked",
        b"X-Injected: a\rb",
        b"X-Injected: a\x00b",
        b" X-Folded: a",
        b"X-Folded: a\r\n continued",
        b"Bad Name: a",
        b"no colon here",
    ],
)
def test_framing_errors_are_refused_at_once(plain_proxy: ProxyProcess, header: bytes) -> None:
    refused(exchange(plain_proxy.port, HEALTH + header + b"\r\n\r\n{}"))


def test_equal_duplicate_lengths_are_one_length(plain_proxy: ProxyProcess) -> None:
    # RFC 9110 §8.6 allows a list of identical values; the body is then read as usual.
    request = HEALTH + b"Content-Length: 2, 2\r\nConnection: close\r\n\r\n{}"
    answer = exchange(plain_proxy.port, request)
    # The body was read and the request reached authentication (it is not signed).
    assert status_of(answer) == 401 and b"AuthenticationFailedException" in answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /ping HTTP/1.1\nHost: 127.0.0.1\n\n",
        b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\n\r\n",
        b"GET /ping HTTP/1.1\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),  # a TLS ClientHello
        b"GET /ping HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /ping HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"GET  /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /p\x7fing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ],
    ids=["lf-only", "mixed-lf", "lf-line", "tls-hello", "http2", "no-host", "two-spaces", "ctl"],
)
def test_malformed_heads_are_refused_at_once(
    plain_proxy: ProxyProcess, request_bytes: bytes
) -> None:
    refused(exchange(plain_proxy.port, request_bytes))


def test_oversized_head_is_refused(plain_proxy: ProxyProcess) -> None:
    refused(exchange(plain_proxy.port, PING + b"X-Big: " + b"a" * 4000 + b"\r\n\r\n"))


def test_oversized_body_is_refused_before_it_is_sent(plain_proxy: ProxyProcess) -> None:
    answer = exchange(plain_proxy.port, HEALTH + b"Content-Length: 1000000000000\r\n\r\n")
    refused(answer)
    assert b"larger than 4096 bytes" in answer


def test_a_body_cut_short_is_refused(plain_proxy: ProxyProcess) -> None:
    refused(exchange(plain_proxy.port, HEALTH + b"Content-Length: 10\r\n\r\n{}", half_close=True))


def test_slow_head_is_closed(plain_proxy: ProxyProcess) -> None:
    assert b"<silent>" not in exchange(plain_proxy.port, PING)


def test_slow_body_is_closed(plain_proxy: ProxyProcess) -> None:
    assert b"<silent>" not in exchange(plain_proxy.port, HEALTH + b"Content-Length: 10\r\n\r\n{")


def test_silent_connection_is_closed(plain_proxy: ProxyProcess) -> None:
    assert exchange(plain_proxy.port, b"") == b""


def test_pipelined_requests_are_all_answered(plain_proxy: ProxyProcess) -> None:
    answer = exchange(plain_proxy.port, PING + b"\r\n" + PING + b"Connection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 2 and answer.endswith(b"pong")


def test_connections_over_the_cap_are_closed(plain_proxy: ProxyProcess) -> None:
    held = [socket.create_connection(("127.0.0.1", plain_proxy.port)) for _ in range(8)]
    try:
        for sock in held:  # each is served: keep-alive after one request
            sock.sendall(PING + b"\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        answer = exchange(plain_proxy.port, PING + b"\r\n")
        assert status_of(answer) is None and b"<silent>" not in answer
    finally:
        for sock in held:
            sock.close()


@pytest.fixture(scope="module")
def capped_tls_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    """A TLS proxy with a cap of 4 connections and a handshake timeout (10 s) far longer than
    the second a connection over the cap may stay open."""
    directory = tmp_path_factory.mktemp("capped-tls-proxy")
    tls = make_tls(directory)
    proxy = start_proxy(
        directory,
        '[server]\ntls_cert = "server.pem"\ntls_key = "server-key.pem"\n'
        + store_toml("/software", "software")
        + "\n[limits]\nmax_connections = 4\n",
    )
    proxy.ca = tls.ca_path
    yield proxy
    proxy.stop()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server ends `sock` (EOF or reset) within `seconds`, without a byte."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _tls_ping(proxy: ProxyProcess) -> bytes:
    assert proxy.ca is not None
    context = ssl.create_default_context(cafile=str(proxy.ca))
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    with raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(PING + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
        return answer


def test_silent_tls_connections_over_the_cap_are_closed_at_once(
    capped_tls_proxy: ProxyProcess,
) -> None:
    """A connection counts from accept, not from the end of its TLS handshake: TCP connections
    that never send a ClientHello fill the cap, and the next ones are closed at once."""
    port = capped_tls_proxy.port
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    try:
        time.sleep(0.3)  # let the proxy accept them all
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as extra:
                assert _closed_within(extra, 1.0)
        assert not any(_closed_within(sock, 0.05) for sock in held)  # the first 4 are kept
        assert "closing a connection: 4 are open already" in capped_tls_proxy.log()
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 3
    while True:  # the silent ones' slots come free as the proxy sees them close
        try:
            answer = _tls_ping(capped_tls_proxy)
            break
        except (ConnectionError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert status_of(answer) == 200 and answer.endswith(b"pong")
    assert "Traceback" not in capped_tls_proxy.log()


def test_still_serves_after_the_abuse(plain_proxy: ProxyProcess) -> None:
    test_ping_answers(plain_proxy)
    assert "Traceback" not in plain_proxy.log()


def test_plain_http_on_the_tls_port_is_closed_at_once(shared_proxy: SharedProxy) -> None:
    answer = exchange(shared_proxy.proxy.port, PING + b"\r\n")
    assert b"<silent>" not in answer
