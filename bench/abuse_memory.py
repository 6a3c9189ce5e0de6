"""Worker memory and a valid request's latency while 100 clients send oversized bodies.

Starts its own `cks serve` (one worker, SQLite, the default [limits]) on a free port, then runs
100 abusive clients for `--seconds`: each announces a 100 MB body (half with Content-Length,
half chunked) and sends as fast as it can until the server answers or closes, then starts over.
Meanwhile it samples the worker's resident memory (/proc, every 50 ms) and sends one valid
signed DescribeCustomKeyStores every 100 ms on a keep-alive connection, timing each. Before the
abuse, the same valid client runs alone for `--quiet-seconds`, so the machine's own noise can
be told from the abuse's effect. Prints the figures and stops everything it started.

    .venv/bin/python bench/abuse_memory.py [--seconds 20] [--clients 100]

The limits under test are docs/operations.md's: the server must answer 413 from the headers
(Content-Length) or stop reading at max_request_bytes (chunked), so no body is buffered whole.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import harness  # bench/harness.py

BODY_BYTES = 100 * 1024 * 1024
BLOCK = b" " * 65536


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(directory: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "kmscks", "serve", "--port", str(port)]
    command += ["--data-dir", str(directory), "--log-level", "warning"]
    log = (directory / "serve.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cks/health", timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("cks serve did not start")


def _worker_pid(main_pid: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == main_pid:
                return int(entry.name)
    raise SystemExit("no worker process found")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _abuser(port: int, chunked: bool, stop: float, answers: Counter[str]) -> None:
    framing = (
        b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % BODY_BYTES
    )
    head = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"X-Amz-Target: TrentService.DescribeCustomKeyStores\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\n" + framing + b"\r\n"
    )
    block = b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n" if chunked else BLOCK
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            answers["connect failed"] += 1
            await asyncio.sleep(0.05)
            continue
        answer = asyncio.ensure_future(reader.read(65536))
        try:
            writer.write(head)
            sent = 0
            while not answer.done() and sent < BODY_BYTES and time.monotonic() < stop:
                writer.write(block)
                await writer.drain()
                sent += len(BLOCK)
            data = await asyncio.wait_for(answer, 10)
            answers[data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else "closed"] += 1
        except (TimeoutError, OSError):
            # The server closed while we were sending: read what it answered first, if any.
            finished = answer.done() and not answer.cancelled() and not answer.exception()
            data = answer.result() if finished else b""
            answers[data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else "closed"] += 1
        finally:
            if not answer.done():
                answer.cancel()
            writer.close()


def _valid_requests(port: int, stop: float, latencies: list[float], failures: list[str]) -> None:
    """A well-behaved client: one keep-alive connection, as the SDKs keep one."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.monotonic() < stop:
        body, headers = harness.signed_request(port, "DescribeCustomKeyStores", {})
        started = time.perf_counter()
        try:
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append(str(response.status))
            latencies.append(time.perf_counter() - started)
        except OSError as error:
            failures.append(type(error).__name__)
            conn.close()
        time.sleep(0.1)
    conn.close()


async def _abuse(port: int, clients: int, seconds: float, answers: Counter[str]) -> None:
    stop = time.monotonic() + seconds
    await asyncio.gather(*(_abuser(port, i % 2 == 1, stop, answers) for i in range(clients)))


def _percentiles(latencies: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, round(len(latencies) * 0.99))] * 1000,
        "max": latencies[-1] * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--quiet-seconds", type=float, default=10.0, help="valid client alone")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cks-abuse-") as tmp:
        port = _free_port()
        process = _start(Path(tmp), port)
        try:
            worker = _worker_pid(process.pid)
            baseline = _rss_mib(worker)
            # The same valid client alone first: what the machine gives without the abuse.
            quiet: list[float] = []
            quiet_failures: list[str] = []
            _valid_requests(port, time.monotonic() + args.quiet_seconds, quiet, quiet_failures)
            samples: list[float] = []
            latencies: list[float] = []
            failures: list[str] = []
            answers: Counter[str] = Counter()
            stop = time.monotonic() + args.seconds
            valid = threading.Thread(target=_valid_requests, args=(port, stop, latencies, failures))
            sampler_stop = threading.Event()

            def sample() -> None:
                while not sampler_stop.is_set():
                    samples.append(_rss_mib(worker))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            valid.start()
            asyncio.run(_abuse(port, args.clients, args.seconds, answers))
            valid.join()
            sampler_stop.set()
            sampler.join()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    latencies.sort()
    quiet.sort()
    result = {
        "clients": args.clients,
        "seconds": args.seconds,
        "abusive_requests": sum(answers.values()),
        "abusive_answers": dict(answers),
        "worker_rss_mib": {"baseline": baseline, "max": max(samples)},
        "valid_requests": len(latencies),
        "valid_failures": failures,
        "valid_ms": _percentiles(latencies),
        "quiet_ms": _percentiles(quiet),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rss = result["worker_rss_mib"]
    valid_ms, quiet_ms = result["valid_ms"], result["quiet_ms"]
    print(
        f"{args.clients} clients, {args.seconds:g} s, {os.cpu_count()} cores:"
        f" {result['abusive_requests']} oversized requests, answers {dict(answers)}\n"
        f"worker RSS: {rss['baseline']:.0f} MiB before, {rss['max']:.0f} MiB at most\n"
        f"valid DescribeCustomKeyStores: {len(latencies)} answered, {len(failures)} failed,"
        f" p50 {valid_ms['p50']:.1f} ms, p99 {valid_ms['p99']:.1f} ms,"
        f" max {valid_ms['max']:.1f} ms\n"
        f"the same client alone before: {len(quiet)} answered, p50 {quiet_ms['p50']:.1f} ms,"
        f" p99 {quiet_ms['p99']:.1f} ms, max {quiet_ms['max']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
