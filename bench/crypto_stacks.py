"""Encrypt through cks's request handler on two HTTP stacks, side by side: what the hand-off costs.

A benchmark, not a test: it measures and prints, nothing asserts. `cks serve` runs on granian's
RSGI interface, where granian's thread does the HTTP I/O and hands each request to the Python
thread and each response back. `bench/asgi_handler.py` serves the same handler on uvicorn
(httptools, uvloop), where the Python thread does its own HTTP I/O. Both run with 1 worker on
the same data (the crypto section's set-up: an XKS key on a real `cks xks-proxy`, an AWS_KMS
key), alternating in each round, and the proxy called directly is measured in each round too:

  - XKS Encrypt at 16 connections, and its ratio to the proxy's own req/s (the issue-10 goal);
  - AWS_KMS Encrypt at 64 connections.

    .venv/bin/python bench/crypto_stacks.py [--rounds 3] [--seconds 5]

`--baseline DIR --stacks granian,baseline` compares this checkout's `cks serve` with another
checkout's (DIR/src, e.g. a `git worktree` of an earlier commit) instead, the same way;
`--workers N` runs both with N workers, and `--cloudhsm` adds CloudHSM Encrypt (64
connections) to the rows.

uvicorn and httptools are the `bench` extra (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import crypto_bench
import harness
from harness import LoadResult, Service, cks_service, running

STACKS = ("granian", "uvicorn", "baseline")  # baseline: granian, running --baseline's src/
XKS_CONNECTIONS = 16


def _uvicorn_service(name: str, folder: Path, config: Path) -> Service:
    port = harness.free_port()
    args = [harness.PYTHON, str(harness.BENCH_DIR / "asgi_handler.py"), "--port", str(port)]
    args += ["--data-dir", str(folder / "data"), "--config", str(config)]
    return Service(name, args, port, log_path=folder / f"{name}.log")


def _load(
    label: str,
    service: Service,
    script: Path,
    args: argparse.Namespace,
    connections: int,
    path: str = "/",
    others: tuple[Service, ...] = (),
) -> LoadResult:
    result = harness.load(
        label,
        service,
        script,
        connections=connections,
        threads=2,
        seconds=args.seconds,
        warmup=1,
        path=path,
        others=others,
    )
    harness.print_result(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--stacks", default="granian,uvicorn", help=f"some of {','.join(STACKS)}")
    parser.add_argument("--baseline", type=Path, help="the checkout the baseline stack runs")
    parser.add_argument("--workers", type=int, default=1, help="cks serve's (not uvicorn's)")
    parser.add_argument("--cloudhsm", action="store_true", help="also CloudHSM Encrypt")
    args = parser.parse_args()
    stacks = args.stacks.split(",")
    if not set(stacks) <= set(STACKS) or ("baseline" in stacks) != (args.baseline is not None):
        parser.error(f"--stacks takes {', '.join(STACKS)}; baseline goes with --baseline DIR")
    if args.workers != 1 and "uvicorn" in stacks:
        parser.error("the uvicorn stack runs one worker")
    with tempfile.TemporaryDirectory() as temp, crypto_bench.keyed_setup(Path(temp)) as setup:
        folder, proxy, config, keys = Path(temp), setup.proxy, setup.config, setup.keys
        rows: dict[str, list[float]] = {}
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}", flush=True)
            direct = _load(
                "proxy encrypt",
                proxy,
                crypto_bench.proxy_script(folder, proxy, "encrypt"),
                args,
                connections=XKS_CONNECTIONS,
                path=crypto_bench.proxy_path("encrypt"),
            )
            order = stacks if round_number % 2 == 0 else stacks[::-1]
            for stack in order:
                name = f"{stack}-{round_number}"
                if stack == "granian":
                    service = cks_service(name, folder, workers=args.workers, config=config)
                elif stack == "baseline":
                    service = cks_service(
                        name, folder, workers=args.workers, config=config, source=args.baseline
                    )
                else:
                    service = _uvicorn_service(name, folder, setup.config_path)
                with running(service, "/_cks/health") as started:
                    xks = _load(
                        f"xks encrypt, {stack}",
                        started,
                        crypto_bench.kms_script(
                            folder, started, "Encrypt", crypto_bench.encrypt_params(keys["xks"])
                        ),
                        args,
                        connections=XKS_CONNECTIONS,
                        others=(proxy,),
                    )
                    aws_kms = _load(
                        f"aws_kms encrypt, {stack}",
                        started,
                        crypto_bench.kms_script(
                            folder,
                            started,
                            "Encrypt",
                            crypto_bench.encrypt_params(keys["aws_kms"]),
                        ),
                        args,
                        connections=64,
                    )
                    if args.cloudhsm:
                        cloudhsm = _load(
                            f"cloudhsm encrypt, {stack}",
                            started,
                            crypto_bench.kms_script(
                                folder,
                                started,
                                "Encrypt",
                                crypto_bench.encrypt_params(keys["cloudhsm"]),
                            ),
                            args,
                            connections=64,
                        )
                        rows.setdefault(f"cloudhsm encrypt, {stack}", []).append(cloudhsm.rps)
                rows.setdefault(f"xks encrypt, {stack}", []).append(xks.rps)
                rows.setdefault(f"xks ratio to the proxy, {stack}", []).append(xks.rps / direct.rps)
                rows.setdefault(f"aws_kms encrypt, {stack}", []).append(aws_kms.rps)
    print(f"medians of {args.rounds} rounds (rounds in brackets):")
    for label, values in rows.items():
        spec = ".2f" if "ratio" in label else ".0f"
        print(f"  {label:34s} {statistics.median(values):{spec}}  ({harness.join(values, spec)})")


if __name__ == "__main__":
    main()
