"""A small asyncio HTTP/1.1 client that says in which phase a request failed.

connectors layer. KMS tells a refused connection from a TLS failure from a proxy that accepted
the connection but did not answer in time (contract xks-proxy.md §2.2), so this client runs the
phases separately (resolve, TCP connect, TLS handshake, request/response) under one deadline and
reports the phase of a failure. One request per connection; the body is read by Content-Length,
chunked encoding or to end of stream.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from enum import Enum

MAX_RESPONSE_BYTES = 1 << 20


class Failure(Enum):
    UNRESOLVABLE = "unresolvable"  # the host name does not resolve
    REFUSED = "refused"  # nothing accepted the TCP connection (refused, reset, no route)
    TLS = "tls"  # the TLS handshake or certificate verification failed
    TIMED_OUT = "timed_out"  # connected, but no complete answer before the deadline
    MALFORMED = "malformed"  # an answer that is not HTTP


class HttpFailure(Exception):
    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Target:
    """Where to connect, and who to expect there."""

    connect_host: str
    connect_port: int
    host_header: str  # also the TLS server name
    tls: ssl.SSLContext | None


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
                raise HttpFailure(Failure.MALFORMED, "response body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_RESPONSE_BYTES:
            raise HttpFailure(Failure.MALFORMED, "response body too large")
        return await reader.readexactly(length)
    return await reader.read(MAX_RESPONSE_BYTES)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> HttpResponse:
    writer.write(request)
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            # Accepted, then closed without a byte: the proxy is not serving.
            raise HttpFailure(Failure.REFUSED, "connection closed before any response")
        raise HttpFailure(Failure.MALFORMED, "incomplete response head")
    except asyncio.LimitOverrunError:
        raise HttpFailure(Failure.MALFORMED, "response head too long")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpFailure(Failure.MALFORMED, f"not an HTTP status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    try:
        body = await _read_body(reader, headers)
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise HttpFailure(Failure.MALFORMED, "truncated or malformed response body")
    return HttpResponse(int(parts[1]), headers, body)


async def post(
    target: Target, path: str, headers: dict[str, str], body: bytes, timeout: float
) -> HttpResponse:
    """POST `body` to `target` and return the response, or raise HttpFailure."""
    request = (
        f"POST {path} HTTP/1.1\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body
    phase = "connect"
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            try:
                reader, writer = await asyncio.open_connection(
                    target.connect_host, target.connect_port
                )
            except socket.gaierror as error:
                raise HttpFailure(Failure.UNRESOLVABLE, str(error))
            except OSError as error:
                raise HttpFailure(Failure.REFUSED, error.strerror or str(error))
            if target.tls is not None:
                phase = "tls"
                try:
                    await writer.start_tls(target.tls, server_hostname=target.host_header)
                except ssl.SSLError as error:
                    raise HttpFailure(Failure.TLS, error.reason or str(error))
                except (ConnectionError, OSError) as error:
                    raise HttpFailure(Failure.TLS, f"connection lost during handshake: {error}")
            phase = "response"
            try:
                return await _exchange(reader, writer, request)
            except ssl.SSLError as error:
                raise HttpFailure(Failure.TLS, error.reason or str(error))
            except (ConnectionResetError, BrokenPipeError) as error:
                raise HttpFailure(Failure.REFUSED, str(error))
    except TimeoutError:
        if phase == "connect":
            raise HttpFailure(Failure.REFUSED, "no answer to the TCP connection")
        raise HttpFailure(Failure.TIMED_OUT, f"no response within {timeout * 1000:.0f} ms")
    finally:
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 0.1)
            except (OSError, TimeoutError, ssl.SSLError):
                pass
