"""Start-up cost of `cks kms` against `aws kms`, side by side on one live `cks serve`.

    .venv/bin/python bench/cli_startup.py [--runs 20] [--baseline SRC] [--write docs/benchmarks.md]

Starts `cks serve` on a free 127.0.0.1 port with three external key stores, then times
`describe-custom-key-stores --endpoint-url ...` (json, and `--query ... --output text`) for
both CLIs. `encrypt --key-id ... --plaintext ...` is timed against a canned endpoint in this
process (one fixed answer), so that row measures the CLI's own path (blob decoding, signing,
output), not the server's cryptography. With --baseline, the same console script importing
kmscks from another source tree (e.g. `git archive <commit> src | tar -x -C /tmp/base`, then
`--baseline /tmp/base/src`) is timed too, for a before/after comparison. After two warm-up
rounds, each round runs every command of every row once, so that machine load hits all of
them alike. Wall time per run is measured around subprocess.run; medians are reported (plus
min and max). Each run gets an empty HOME, credentials test/test, region us-east-1 and no
pager. `aws` is Debian's AWS CLI v2 at /usr/bin/aws. With --write, the "## CLI start-up"
section of the given markdown file is replaced (or appended) with the results.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

AWS = "/usr/bin/aws"
# The `cks` console script next to this Python (what users run), else `python -m kmscks`.
_SCRIPT = Path(sys.executable).with_name("cks")
CKS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "kmscks"]
SECTION = "## CLI start-up"
VPC = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef{}"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / "cks.toml"
    config.write_text(
        "[xks]\nsystem_dns = false\n"
        + "".join(
            f'[[vpc_endpoint_services]]\nname = "{VPC.format(i)}"\nowner = "000000000000"\n'
            f'private_dns_name = "xks{i}.example.test"\naddress = "127.0.0.1:9"\n'
            for i in range(3)
        )
    )
    port = free_port()
    server = subprocess.Popen(
        [*CKS, "serve", "--port", str(port), "--data-dir", str(workdir / "data"),
         "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_cks/health", timeout=1):
                return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("cks serve did not start")


def environment(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def create_stores(url: str, env: dict[str, str]) -> None:
    for i in range(3):
        subprocess.run(
            [*CKS, "kms", "create-custom-key-store", "--endpoint-url", url,
             "--custom-key-store-name", f"bench-{i}",
             "--custom-key-store-type", "EXTERNAL_KEY_STORE",
             "--xks-proxy-connectivity", "VPC_ENDPOINT_SERVICE",
             "--xks-proxy-uri-endpoint", f"https://xks{i}.example.test",
             "--xks-proxy-uri-path", "/kms/xks/v1",
             "--xks-proxy-vpc-endpoint-service-name", VPC.format(i),
             "--xks-proxy-authentication-credential",
             "AccessKeyId=ABCDEFGHIJKLMNOPQRST,RawSecretAccessKey=" + "a" * 43],
            env=env, check=True, capture_output=True,
        )  # fmt: skip


class _CannedEncrypt(BaseHTTPRequestHandler):
    """Answers every request like a successful Encrypt (`ct:` + the plaintext)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        params = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        ciphertext = b"ct:" + base64.b64decode(params.get("Plaintext", ""))
        body = json.dumps(
            {
                "CiphertextBlob": base64.b64encode(ciphertext).decode(),
                "KeyId": f"arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}",
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_canned_endpoint() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CannedEncrypt)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run. The CPU time hardly depends on what
    else the machine is doing, so it shows start-up cost even on a loaded machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command} failed: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


Result = tuple[str, dict[str, list[tuple[float, float]]]]


def variants(url: str, canned_url: str) -> list[tuple[str, list[str]]]:
    describe = ["describe-custom-key-stores", "--endpoint-url", url]
    return [
        ("describe-custom-key-stores --endpoint-url URL", describe),
        (
            "describe-custom-key-stores --endpoint-url URL "
            "--query CustomKeyStores[].CustomKeyStoreId --output text",
            [*describe, "--query", "CustomKeyStores[].CustomKeyStoreId", "--output", "text"],
        ),
        (
            "encrypt --endpoint-url CANNED --key-id KEY --plaintext aGVsbG8=",
            [
                "encrypt",
                "--endpoint-url",
                canned_url,
                "--key-id",
                KEY_ID,
                "--plaintext",
                "aGVsbG8=",
            ],
        ),
    ]


def measure(
    runs: int, url: str, canned_url: str, env: dict[str, str], baseline: Path | None
) -> list[Result]:
    """Every command of every row once per round, so that load changes during the run hit
    all rows alike."""
    plan: list[tuple[str, str, list[str], dict[str, str]]] = []
    for label, args in variants(url, canned_url):
        plan.append((label, "cks", [*CKS, "kms", *args], env))
        plan.append((label, "aws", [AWS, "kms", *args], env))
        if baseline is not None:
            # The same console script, importing kmscks from the other tree.
            base_env = {**env, "PYTHONPATH": str(baseline)}
            command = [*CKS, "kms", *args]
            # The baseline may predate the command: then that row has no baseline.
            if subprocess.run(command, env=base_env, capture_output=True).returncode == 0:
                plan.append((label, "baseline", command, base_env))
    for _ in range(2):
        for _, _, command, command_env in plan:
            timed(command, command_env)
    times: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for _ in range(runs):
        for label, name, command, command_env in plan:
            times.setdefault(label, {}).setdefault(name, []).append(timed(command, command_env))
    return list(times.items())


def _ms(runs: list[tuple[float, float]]) -> str:
    wall = statistics.median(run[0] for run in runs)
    cpu = statistics.median(run[1] for run in runs)
    return f"{wall * 1000:.0f} ms ({cpu * 1000:.0f} ms CPU)"


def _span(runs: list[tuple[float, float]]) -> str:
    walls = [run[0] for run in runs]
    return f"{min(walls) * 1000:.0f}-{max(walls) * 1000:.0f} ms"


def _ratio(cks: list[tuple[float, float]], aws: list[tuple[float, float]]) -> str:
    wall = statistics.median(run[0] for run in cks) / statistics.median(run[0] for run in aws)
    cpu = statistics.median(run[1] for run in cks) / statistics.median(run[1] for run in aws)
    return f"{wall:.2f} ({cpu:.2f})"


def report(results: list[Result], runs: int, baseline: Path | None) -> str:
    aws_version = subprocess.run(
        [AWS, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    command = f".venv/bin/python bench/cli_startup.py --runs {runs}"
    if baseline is not None:
        command += f" --baseline {baseline}"
    lines = [
        SECTION,
        "",
        "```sh",
        f"{command} --write docs/benchmarks.md",
        "```",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores "
        f"(load average {os.getloadavg()[0]:.1f} at the end).",
        "Wall time of one command against a live `cks serve` holding 3 stores (encrypt: against",
        f"a canned endpoint in the benchmark process), {runs} rounds after 2 warm-up rounds, each",
        "round running every command once (the `cks` console script;",
        f"aws is `{aws_version}`).",
        "",
    ]
    header = "| command | cks median | aws median | cks / aws | cks min-max | aws min-max |"
    rule = "|---|---|---|---|---|---|"
    if baseline is not None:
        header += " baseline median | baseline min-max |"
        rule += "---|---|"
    lines += [header, rule]
    for label, times in results:
        cks_times, aws_times = times["cks"], times["aws"]
        row = (
            f"| `{label}` | {_ms(cks_times)} | {_ms(aws_times)} | "
            f"{_ratio(cks_times, aws_times)} | {_span(cks_times)} | {_span(aws_times)} |"
        )
        if baseline is not None:
            base = times.get("baseline")
            row += f" {_ms(base)} | {_span(base)} |" if base else " n/a | n/a |"
        lines.append(row)
    lines += [
        "",
        "Medians of wall time, with the median CPU time (user + system) of the same runs in",
        "brackets: on a loaded machine the wall times scatter, the CPU times much less.",
        "",
        "Target: cks median at most 1/3 of aws's, and `encrypt` as fast as",
        "`describe-custom-key-stores`. cks keeps botocore, jmespath and YAML off the",
        "json path (options come from the pre-derived `src/kmscks/cli/operations.json`);",
        "`--query` adds jmespath (~10 ms). What remains is the interpreter (~20 ms), argparse,",
        "http.client (which imports email.parser) and the request itself.",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if SECTION in text:
        start = text.index(SECTION)
        following = text.find("\n## ", start + len(SECTION))
        if following < 0:
            text = text[:start] + section
        else:  # keep the blank line before the next section
            text = text[:start] + section + "\n" + text[following + 1 :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--baseline", type=Path, help="another source tree's src/ to time too")
    options = parser.parse_args()
    if not os.access(AWS, os.X_OK):
        raise SystemExit(f"{AWS} (Debian's awscli) is required")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "home").mkdir()
        env = environment(workdir / "home")
        server, url = start_server(workdir)
        canned, canned_url = start_canned_endpoint()
        try:
            create_stores(url, env)
            results = measure(options.runs, url, canned_url, env, options.baseline)
        finally:
            canned.shutdown()
            server.terminate()
            server.wait(10)
    section = report(results, options.runs, options.baseline)
    sys.stdout.write(section)
    if options.write:
        write_section(options.write, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
