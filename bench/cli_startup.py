"""Start-up cost of `cks kms` against `aws kms`, side by side on one live `cks serve`.

    .venv/bin/python bench/cli_startup.py [--runs 20] [--write docs/benchmarks.md]

Starts `cks serve` on a free 127.0.0.1 port with three external key stores, then times
`describe-custom-key-stores --endpoint-url ...` (json, and `--query ... --output text`) for
both CLIs, interleaved run by run so machine load hits both alike, after two warm-ups each.
Wall time per run is measured around subprocess.run; medians are reported (plus min and max).
Each run gets an empty HOME, credentials test/test, region us-east-1 and no pager. `aws` is
Debian's AWS CLI v2 at /usr/bin/aws. With --write, the "## CLI start-up" section of the given
markdown file is replaced (or appended) with the results.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

AWS = "/usr/bin/aws"
# The `cks` console script next to this Python (what users run), else `python -m kmscks`.
_SCRIPT = Path(sys.executable).with_name("cks")
CKS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "kmscks"]
SECTION = "## CLI start-up"
VPC = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef{}"


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


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command} failed: {done.stderr.decode()}")
    return elapsed


def measure(runs: int, url: str, env: dict[str, str]) -> list[tuple[str, list[float], list[float]]]:
    variants = [
        ("describe-custom-key-stores --endpoint-url URL", []),
        (
            "describe-custom-key-stores --endpoint-url URL "
            "--query CustomKeyStores[].CustomKeyStoreId --output text",
            ["--query", "CustomKeyStores[].CustomKeyStoreId", "--output", "text"],
        ),
    ]
    results = []
    for label, extra in variants:
        args = ["kms", "describe-custom-key-stores", "--endpoint-url", url, *extra]
        cks_cmd, aws_cmd = [*CKS, *args], [AWS, *args]
        for _ in range(2):
            timed(cks_cmd, env)
            timed(aws_cmd, env)
        cks_times, aws_times = [], []
        for _ in range(runs):
            cks_times.append(timed(cks_cmd, env))
            aws_times.append(timed(aws_cmd, env))
        results.append((label, cks_times, aws_times))
    return results


def report(results: list[tuple[str, list[float], list[float]]], runs: int) -> str:
    aws_version = subprocess.run(
        [AWS, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        SECTION,
        "",
        "```sh",
        f".venv/bin/python bench/cli_startup.py --runs {runs} --write docs/benchmarks.md",
        "```",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores "
        f"(load average {os.getloadavg()[0]:.1f} at the end, other sessions were running).",
        "Wall time of one command against a live `cks serve` holding 3 stores, "
        f"{runs} runs each after",
        "2 warm-ups, cks and aws interleaved run by run (the `cks` console script;",
        f"aws is `{aws_version}`).",
        "",
        "| command | cks median | aws median | cks / aws | cks min-max | aws min-max |",
        "|---|---|---|---|---|---|",
    ]
    for label, cks_times, aws_times in results:
        cks_median, aws_median = statistics.median(cks_times), statistics.median(aws_times)
        lines.append(
            f"| `{label}` | {cks_median * 1000:.0f} ms | {aws_median * 1000:.0f} ms | "
            f"{cks_median / aws_median:.2f} | "
            f"{min(cks_times) * 1000:.0f}-{max(cks_times) * 1000:.0f} ms | "
            f"{min(aws_times) * 1000:.0f}-{max(aws_times) * 1000:.0f} ms |"
        )
    lines += [
        "",
        "Target: cks median at most 1/3 of aws's. cks keeps botocore, jmespath and YAML off the",
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
    options = parser.parse_args()
    if not os.access(AWS, os.X_OK):
        raise SystemExit(f"{AWS} (Debian's awscli) is required")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "home").mkdir()
        env = environment(workdir / "home")
        server, url = start_server(workdir)
        try:
            create_stores(url, env)
            results = measure(options.runs, url, env)
        finally:
            server.terminate()
            server.wait(10)
    section = report(results, options.runs)
    sys.stdout.write(section)
    if options.write:
        write_section(options.write, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
