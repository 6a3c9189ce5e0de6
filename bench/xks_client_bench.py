"""Benchmark the KMS side's XKS key client: proxy encrypts per second, with and without reuse.

Starts its own `cks xks-proxy` (software backend, TLS unless --plain; the same proxy set-up as
bench/xks_proxy_bench.py) on 127.0.0.1 and drives `XksKeyClient.encrypt` from one asyncio loop
with N concurrent callers, as `cks serve` would. Each call is SigV4-signed, JSON-encoded, sent,
checked (lengths, base64, integrity value) here, so the figures include the client's own cost;
"proxy CPU/call" is the proxy process's user+system CPU (from /proc) per call.
Three ways to reach the proxy, side by side:

  fresh     one connection per call, full TLS handshake (the client before the pool)
  resumed   one connection per call, TLS session resumed
  kept      keep-alive connections from the pool (what the key client does)

All three go through the same pool code; only `max_idle` (0 for a connection per call) and
`resume_tls` differ, so each row differs from the next by one thing.

    .venv/bin/python bench/xks_client_bench.py [--calls 2000] [--concurrency 1 4] [--size 60]

The default plaintext is 60 bytes: the inner layer of a 32-byte data key (32 + 28).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import xks_proxy_bench as proxy_bench  # bench/xks_proxy_bench.py: starts the proxy
from kmscks.config import XksSettings
from kmscks.connectors.xks_keys import RequestMetadata, XksKeyClient
from kmscks.connectors.xks_transport import ProxySettings, ProxyTransport

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
META = RequestMetadata("arn:aws:iam::123456789012:user/bench", "Encrypt", "bench", KEY_ARN)
AAD = os.urandom(54)  # the size of the service's AAD (§9.2 of the contract)
TIME_CAP_SECONDS = 60.0  # per mode and concurrency


def _transport(mode: str, port: int, ca: Path, plain: bool) -> ProxyTransport:
    host = "localhost"
    settings = XksSettings(
        resolve={host: f"127.0.0.1:{port}"},
        ca_bundle=ca,
        allow_http=frozenset({host}) if plain else frozenset(),
        timeout_ms=2000,  # a loaded 2-core machine must not turn the figures into timeouts
        retries=0,
    )
    transport = ProxyTransport(settings, ())
    if mode != "kept":
        transport.pool.max_idle = 0  # nothing stays idle: a new connection per call
    transport.pool.resume_tls = mode == "resumed"
    return transport


async def _drive(
    transport: ProxyTransport, calls: int, concurrency: int, size: int, proxy_pid: int
) -> dict[str, Any]:
    client = XksKeyClient(transport)
    proxy = ProxySettings(
        "PUBLIC_ENDPOINT",
        "https://localhost",
        "/software/kms/xks/v1",
        proxy_bench.AKID,
        proxy_bench.SECRET,
    )
    plaintexts = [os.urandom(size) for _ in range(64)]
    latencies: list[float] = []
    deadline = time.monotonic() + TIME_CAP_SECONDS

    async def caller(index: int) -> None:
        # One call outside the measurement, so that "kept" starts with warm connections.
        await client.encrypt(proxy, "us-east-1", "bench-key", plaintexts[0], AAD, META)
        for call in range(index, calls, concurrency):
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            await client.encrypt(proxy, "us-east-1", "bench-key", plaintexts[call % 64], AAD, META)
            latencies.append(time.perf_counter() - started)

    cpu_before = time.process_time()
    proxy_cpu_before = proxy_bench._cpu_seconds(proxy_pid)
    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    proxy_cpu = proxy_bench._cpu_seconds(proxy_pid) - proxy_cpu_before
    stats = transport.pool.stats
    made = len(latencies) + concurrency  # the warm-up calls included
    await transport.pool.close()
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "calls": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "client_cpu_us": cpu / made * 1e6,
        "proxy_cpu_us": proxy_cpu / made * 1e6,
        "connections": stats.opened,
        "tls_resumed": stats.tls_resumed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="encrypts per mode")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--size", type=int, default=60, help="plaintext bytes")
    parser.add_argument("--plain", action="store_true", help="plain HTTP instead of TLS 1.3")
    args = parser.parse_args()
    modes = ["fresh", "kept"] if args.plain else ["fresh", "resumed", "kept"]

    rows = []
    with tempfile.TemporaryDirectory(prefix="xks-client-bench-") as tmp:
        directory = Path(tmp)
        process, port = proxy_bench._start(directory, dict(os.environ), args.plain, pkcs11=False)
        try:
            for concurrency in args.concurrency:
                for mode in modes:
                    transport = _transport(mode, port, directory / "ca.pem", args.plain)
                    figures = asyncio.run(
                        _drive(transport, args.calls, concurrency, args.size, process.pid)
                    )
                    rows.append({"mode": mode, "concurrency": concurrency, **figures})
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()

    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores,"
        f" {'plain HTTP' if args.plain else 'TLS 1.3'}, {args.size}-byte plaintext, software"
        f" backend, load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| mode | callers | calls | encrypts/s | p50 ms | p99 ms | client CPU/call |"
          " proxy CPU/call | connections | TLS resumed |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['concurrency']} | {r['calls']} | {r['per_second']:.0f} |"
            f" {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['client_cpu_us']:.0f} us |"
            f" {r['proxy_cpu_us']:.0f} us |"
            f" {r['connections']} | {r['tls_resumed']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
