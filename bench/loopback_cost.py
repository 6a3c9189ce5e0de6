"""What one request/response over loopback TCP costs the side that sends the request.

A benchmark, not a test. The XKS path's figures (docs/benchmarks.md, "Where the time goes")
show cks spending about as much CPU on each proxy call as the proxy spends on its whole request.
This measures the floor under that with no Python HTTP, TLS or event loop in the way: two
processes play ping-pong over a kept TCP connection with the XKS request's and answer's sizes
(blocking sockets, TCP_NODELAY), and the sender's CPU per round trip is read from the kernel,
split into its send, its wait for the answer, user and system time. It runs twice: with the two
processes on different cores (where the scheduler puts a proxy and a server on 2 cores) and both
pinned to one core, so what waking a process on another core costs shows apart.

    .venv/bin/python bench/loopback_cost.py [--round-trips 20000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time

REQUEST_BYTES = 700  # a signed XKS encrypt request with its HTTP head
ANSWER_BYTES = 400  # the proxy's answer with its head


def _echo(server: socket.socket, cpu: int) -> None:
    """The peer: answer every request with ANSWER_BYTES until the connection closes."""
    os.sched_setaffinity(0, {cpu})
    answer = b"a" * ANSWER_BYTES
    while server.recv(65536):
        server.sendall(answer)
    os._exit(0)


def measure(round_trips: int, sender_cpu: int, peer_cpu: int) -> dict[str, float]:
    """The sender's CPU per round trip (us): send, wait, user and system time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    for sock in (client, server):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer = os.fork()
    if peer == 0:
        client.close()
        _echo(server, peer_cpu)
    server.close()
    os.sched_setaffinity(0, {sender_cpu})
    request = b"r" * REQUEST_BYTES
    for _ in range(1000):  # warm-up
        client.sendall(request)
        client.recv(65536)
    send = wait = 0.0
    before = os.times()
    for _ in range(round_trips):
        started = time.thread_time()
        client.sendall(request)
        sent = time.thread_time()
        client.recv(65536)  # the answer is small enough to arrive in one piece
        wait += time.thread_time() - sent
        send += sent - started
    after = os.times()
    client.close()
    os.waitpid(peer, 0)
    scale = 1e6 / round_trips
    return {
        "send": send * scale,
        "wait": wait * scale,
        "user": (after.user - before.user) * scale,
        "system": (after.system - before.system) * scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("needs two cores to compare (os.sched_getaffinity)")
    placements = {
        "other core": (cpus[0], cpus[1]),
        "same core": (cpus[0], cpus[0]),
    }
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in placements}
    for _ in range(args.rounds):  # alternated, so drift hits both
        for name, (sender, peer) in placements.items():
            rows[name].append(measure(args.round_trips, sender, peer))
    print(
        f"sender CPU per round trip ({REQUEST_BYTES}-byte request, {ANSWER_BYTES}-byte answer,"
        f" loopback TCP), medians of {args.rounds} rounds of {args.round_trips}:"
    )
    for name, results in rows.items():
        figures = {
            part: statistics.median(result[part] for result in results)
            for part in ("send", "wait", "user", "system")
        }
        print(
            f"  peer on the {name:10s}  send {figures['send']:5.1f} us  wait {figures['wait']:5.1f}"
            f" us  (user {figures['user']:4.1f} + system {figures['system']:5.1f} us)"
        )


if __name__ == "__main__":
    main()
