"""Client CPU per pooled XKS proxy request, with the answering server in the same process.

A benchmark, not a test. `ConnectionPool.post` sends a request the size of an XKS Encrypt on a
kept connection (plain, then TLS 1.3) to a server end in this process that answers at once;
per request it times this process's CPU (median of per-call `time.process_time` deltas). No
other process is woken, so the figure is the client's own cost (plus the in-process answer's
send, the same for every client), free of the scheduler noise of a cross-process round trip:

    .venv/bin/python bench/http_client_cost.py [--calls 3000] [--rounds 5]

To compare with another checkout's client, put its src first on the path:
`PYTHONPATH=OTHER/src .venv/bin/python bench/http_client_cost.py` (before the split into
http_connection.py, Target and client_tls_context lived in http_client.py).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import statistics
import threading
import time

import trustme

from kmscks.connectors import http_client

try:
    from kmscks.connectors.http_connection import Target, client_tls_context
except ImportError:  # a checkout from before the split
    from kmscks.connectors.http_client import Target, client_tls_context  # type: ignore

BODY = (
    b'{"authenticationTag":"' + b"A" * 22 + b'","ciphertext":"' + b"B" * 80
    + b'","initializationVector":"' + b"C" * 16 + b'","ciphertextMetadata":""}'
)  # fmt: skip
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    + BODY
)
HEADERS = {
    "Content-Type": "application/json",
    "X-Amz-Date": "20261130T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/us-east-1/kms-xks-proxy/"
    "aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64,
}
REQUEST = (
    b'{"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::111122223333:user/bench",'
    b'"kmsOperation":"Encrypt","kmsRequestId":"bench"},"plaintext":"' + b"x" * 80
    + b'","encryptionAlgorithm":"AES_GCM","additionalAuthenticatedData":"' + b"y" * 72
    + b'","ciphertextDataIntegrityValueAlgorithm":"SHA_256"}'
)  # fmt: skip


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += conn.recv(65536)


async def _round(
    tls: ssl.SSLContext | None, server_tls: ssl.SSLContext | None, calls: int
) -> float:
    listener = socket.create_server(("127.0.0.1", 0))
    target = Target("127.0.0.1", listener.getsockname()[1], "localhost", tls)
    accepted: list[socket.socket] = []

    def accept() -> None:  # the handshake and first answer, while the loop runs the client
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if server_tls is not None:
            conn = server_tls.wrap_socket(conn, server_side=True)
        _read_request(conn)
        conn.sendall(RESPONSE)
        accepted.append(conn)

    pool = http_client.ConnectionPool()
    thread = threading.Thread(target=accept)
    thread.start()
    await pool.post(target, "/kms/xks/v1/keys/k/encrypt", HEADERS, REQUEST, 2.0)
    thread.join()
    server = accepted[0]
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(calls):
        loop.call_soon(server.sendall, RESPONSE)  # runs once the client waits for its answer
        started = time.process_time()
        response = await pool.post(target, "/kms/xks/v1/keys/k/encrypt", HEADERS, REQUEST, 2.0)
        times.append(time.process_time() - started)
        _read_request(server)
    if response.status != 200 or not response.reused_connection:
        raise RuntimeError(f"unexpected {response}")
    await pool.close()
    server.close()
    listener.close()
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"client: {http_client.__file__}")
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_tls)
    client_tls = client_tls_context(None, None, None)
    ca.configure_trust(client_tls)
    for name, tls, answering in (("plain", None, None), ("tls", client_tls, server_tls)):
        rounds = [asyncio.run(_round(tls, answering, args.calls)) for _ in range(args.rounds)]
        figures = ", ".join(f"{value:.1f}" for value in rounds)
        print(f"pooled {name:5s} {statistics.median(rounds):6.1f} us/request ({figures})")


if __name__ == "__main__":
    main()
