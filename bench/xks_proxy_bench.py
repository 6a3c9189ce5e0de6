"""Benchmark the bundled XKS proxy: encrypt/decrypt requests per second and latency percentiles.

Starts its own `cks xks-proxy` (TLS, one store per backend: software and SoftHSM2 PKCS#11 in a
private token) on 127.0.0.1 with a free port, drives it with keep-alive HTTPS connections from
client threads, prints a Markdown table, and stops everything it started. Requests are
SigV4-signed (botocore) before the clock starts, so the figures are the proxy's, not the
signer's; the client still shares the machine's cores with the proxy.

    .venv/bin/python bench/xks_proxy_bench.py [--requests 3000] [--concurrency 4]

KMS allows a proxy 250 ms per call (../shared/contract/xks-proxy.md §1.8).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import select
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmscks.xksproxy import certs

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
AKID = "AKIDXKSPROXYBENCH234"
SECRET = base64.b64encode(os.urandom(32)).decode()
REGION = "us-east-1"
API = "/kms/xks/v1"
TIME_CAP_SECONDS = 60.0  # per (backend, operation); the loop stops by itself either way
META = {
    "kmsRequestId": "bench",
    "awsPrincipalArn": "arn:aws:iam::123456789012:user/bench",
    "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/bench",
}


def _softhsm(directory: Path) -> dict[str, str] | None:
    if not shutil.which("softhsm2-util") or not Path(SOFTHSM_MODULE).exists():
        return None
    tokens = directory / "tokens"
    tokens.mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    init = ["softhsm2-util", "--init-token", "--free", "--label", "bench"]
    subprocess.run(
        [*init, "--so-pin", "5678", "--pin", "1234"], env=env, check=True, capture_output=True
    )
    script = (
        "import pkcs11\nfrom pkcs11 import KeyType\n"
        f"lib = pkcs11.lib({SOFTHSM_MODULE!r})\n"
        "with lib.get_token(token_label='bench').open(rw=True, user_pin='1234') as s:\n"
        "    s.generate_key(KeyType.AES, 256, label='bench-key', store=True)\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True)
    return env


def _store(prefix: str, backend: str) -> str:
    return (
        f'\n[[stores]]\nuri_path_prefix = "{prefix}"\n'
        f'credentials = [{{ access_key_id = "{AKID}", secret_access_key = "{SECRET}" }}]\n'
        f'[[stores.keys]]\nid = "bench-key"\nbackend = "{backend}"\n'
    )


def _start(
    directory: Path, env: dict[str, str], plain: bool, pkcs11: bool
) -> tuple[subprocess.Popen[bytes], int]:
    ca = certs.new_ca("bench CA")
    server = certs.issue(ca, "localhost", dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    (directory / "ca.pem").write_bytes(ca.cert_pem())
    (directory / "server.pem").write_bytes(server.cert_pem())
    (directory / "server-key.pem").write_bytes(server.key_pem())
    tls = "" if plain else 'tls_cert = "server.pem"\ntls_key = "server-key.pem"\n'
    text = "[server]\n" + tls + _store("/software", "software")
    if pkcs11:
        text += _store("/pkcs11", "pkcs11")
        text += f'[pkcs11]\nmodule = "{SOFTHSM_MODULE}"\ntoken_label = "bench"\npin = "1234"\n'
    (directory / "config.toml").write_text(text)
    command = [
        sys.executable,
        "-m",
        "kmscks",
        "xks-proxy",
        "--config",
        str(directory / "config.toml"),
    ]
    command += ["--port", "0", "--log-level", "WARNING"]
    with (directory / "proxy.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 20)
    line = process.stdout.readline() if ready else b""
    if b"listening on" not in line:
        process.kill()
        process.wait()
        raise SystemExit(f"proxy did not start: {(directory / 'proxy.log').read_text()}")
    return process, int(line.decode().rsplit(":", 1)[1])


def _signed(port: int, path: str, body: dict) -> tuple[str, bytes, dict[str, str]]:
    data = json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url=f"https://127.0.0.1:{port}{path}",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(AKID, SECRET), "kms-xks-proxy", REGION).add_auth(request)
    return path, data, dict(request.headers)


def _connection(port: int, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if context is None:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)


def _post(conn: http.client.HTTPConnection, request: tuple[str, bytes, dict[str, str]]) -> dict:
    path, data, headers = request
    conn.request("POST", path, data, headers)
    response = conn.getresponse()
    body = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body}")
    return body


def _requests(
    port: int, context: ssl.SSLContext | None, prefix: str, operation: str, count: int, size: int
):
    base = f"{prefix}{API}/keys/bench-key"
    plaintexts = [os.urandom(size) for _ in range(min(count, 200))]
    aad = base64.b64encode(b"bench aad").decode()
    encrypts = [
        {
            "requestMetadata": {**META, "kmsOperation": "Encrypt"},
            "plaintext": base64.b64encode(p).decode(),
            "additionalAuthenticatedData": aad,
            "encryptionAlgorithm": "AES_GCM",
        }
        for p in plaintexts
    ]
    if operation == "encrypt":
        bodies = encrypts
    else:
        conn = _connection(port, context)
        try:
            sealed = [_post(conn, _signed(port, base + "/encrypt", body)) for body in encrypts]
        finally:
            conn.close()
        bodies = [
            {
                "requestMetadata": {**META, "kmsOperation": "Decrypt"},
                "additionalAuthenticatedData": aad,
                "encryptionAlgorithm": "AES_GCM",
                **s,
            }
            for s in sealed
        ]
    signed = [_signed(port, f"{base}/{operation}", body) for body in bodies]
    return [signed[i % len(signed)] for i in range(count)]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of the proxy process (Linux /proc), to report CPU per request."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(
    port: int, context: ssl.SSLContext | None, requests: list, concurrency: int, pid: int
) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + TIME_CAP_SECONDS
    shares = [requests[i::concurrency] for i in range(concurrency)]

    def worker(share: list) -> None:
        conn = _connection(port, context)
        mine = []
        try:
            _post(conn, share[0])  # handshake outside the measurement
            for request in share:
                if time.monotonic() > deadline:
                    break
                started = time.perf_counter()
                _post(conn, request)
                mine.append(time.perf_counter() - started)
        finally:
            conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(share,)) for share in shares]
    cpu_before = _cpu_seconds(pid)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(pid) - cpu_before
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "max_ms": latencies[-1] * 1000,
        "server_cpu_us": cpu / len(latencies) * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per backend and operation")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads/connections")
    parser.add_argument("--size", type=int, default=32, help="plaintext bytes (a data key is 32)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--plain", action="store_true", help="plain HTTP, to see the TLS share")
    parser.add_argument(
        "--src",
        action="append",
        type=Path,
        help="a checkout whose src/ the proxy runs from (repeat to compare; default: this one)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternate the checkouts N times")
    args = parser.parse_args()
    sources: list[Path | None] = list(args.src) if args.src else [None]

    with tempfile.TemporaryDirectory(prefix="xks-bench-") as tmp:
        directory = Path(tmp)
        has_softhsm = shutil.which("softhsm2-util") and Path(SOFTHSM_MODULE).exists()
        backends = ["software"] + (["pkcs11"] if has_softhsm else [])
        if not has_softhsm:
            print("SoftHSM2 not installed: benchmarking the software backend only", file=sys.stderr)
        proxies = []
        try:
            for index, source in enumerate(sources):
                own = directory / f"proxy-{index}"
                own.mkdir()
                env = _softhsm(own)  # a token of its own for each proxy
                proxy_env = dict(env if env is not None else os.environ)
                if source is not None:
                    proxy_env["PYTHONPATH"] = str(source.resolve() / "src")
                process, port = _start(own, proxy_env, args.plain, pkcs11=env is not None)
                context = (
                    None if args.plain else ssl.create_default_context(cafile=str(own / "ca.pem"))
                )
                proxies.append((source, process, port, context))
            results = []
            for backend in backends:
                for operation in ("encrypt", "decrypt"):
                    rounds: dict[int, list[dict[str, float]]] = {}
                    for _ in range(args.rounds):
                        for index, (_, process, port, context) in enumerate(proxies):
                            requests = _requests(
                                port, context, f"/{backend}", operation, args.requests, args.size
                            )
                            figures = _run(port, context, requests, args.concurrency, process.pid)
                            rounds.setdefault(index, []).append(figures)
                    for index, runs in rounds.items():
                        source = proxies[index][0]
                        results.append(
                            {
                                "source": str(source) if source else "this checkout",
                                "backend": backend,
                                "operation": operation,
                                **{
                                    name: statistics.median(run[name] for run in runs)
                                    for name in runs[0]
                                },
                            }
                        )
        finally:
            for _, process, _, _ in proxies:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)
                if process.stdout is not None:
                    process.stdout.close()

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
        f"{'plain HTTP' if args.plain else 'TLS 1.3'} keep-alive, "
        f"{args.concurrency} connections, {args.size}-byte plaintext\n"
    )
    if args.rounds > 1:
        print(f"Medians of {args.rounds} alternating rounds.\n")
    print(
        "| source | backend | operation | requests | req/s | p50 ms | p99 ms | max ms"
        " | proxy CPU/req |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['source']} | {r['backend']} | {r['operation']} | {r['requests']:.0f} | "
            f"{r['rps']:.0f} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} | "
            f"{r['server_cpu_us']:.0f} us |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
