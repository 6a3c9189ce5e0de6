"""CPU per crypto request inside one `cks serve` process, without HTTP or a load generator.

A benchmark, not a test. It sets up the keys of the crypto section (bench/crypto_bench.py: an
XKS key on a real `cks xks-proxy`, a CloudHSM key, an AWS_KMS key) through a real server, stops
that server, then builds the same process in this interpreter (kmscks.runtime.build_process on
the same data dir and config) and calls its RequestHandler with the signed requests wrk would
send, one after another. CPU time per call is this process's (the proxy's is not counted), so
optimisations of the request path can be compared free of the machine's scheduling noise:

    .venv/bin/python bench/crypto_cost.py [--calls 2000] [--profile aws_kms]

`--profile KIND` prints a cProfile of that variant instead (sorted by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import crypto_bench
import harness
from kmscks import logsetup
from kmscks.runtime import ServeOptions, build_process

VARIANTS = ("aws_kms", "cloudhsm", "xks_encrypt", "xks_decrypt")


def requests(keys: dict[str, str], blob: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "aws_kms": ("Encrypt", crypto_bench.encrypt_params(keys["aws_kms"])),
        "cloudhsm": ("Encrypt", crypto_bench.encrypt_params(keys["cloudhsm"])),
        "xks_encrypt": ("Encrypt", crypto_bench.encrypt_params(keys["xks"])),
        "xks_decrypt": ("Decrypt", {"CiphertextBlob": blob}),
    }


async def _measure(handler: Any, request: tuple[bytes, dict[str, str]], calls: int) -> list[float]:
    body, signed = request
    headers = {name.lower(): value for name, value in signed.items()}
    times = []
    for _ in range(calls):
        started = time.process_time()
        status, _, payload = await handler.handle("POST", "/", "", headers, body)
        times.append(time.process_time() - started)
        if status != 200:
            raise RuntimeError(f"{status} {payload[:200]!r}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=VARIANTS)
    parser.add_argument(
        "--only", choices=VARIANTS, help="run only this variant (to profile from outside)"
    )
    args = parser.parse_args()
    logsetup.skip_unused_record_attributes()
    with tempfile.TemporaryDirectory() as temp, crypto_bench.keyed_setup(Path(temp)) as setup:
        options = ServeOptions(str(Path(temp) / "data"), config_path=str(setup.config_path))
        process = build_process(options)
        signed = {
            kind: harness.signed_request(setup.port, operation, params)
            for kind, (operation, params) in requests(setup.keys, setup.xks_blob).items()
        }
        loop = asyncio.new_event_loop()
        if args.profile:
            loop.run_until_complete(_measure(process.handler, signed[args.profile], 200))
            profile = cProfile.Profile()
            profile.enable()
            loop.run_until_complete(_measure(process.handler, signed[args.profile], args.calls))
            profile.disable()
            pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(35)
            return
        variants = (args.only,) if args.only else VARIANTS
        medians: dict[str, list[float]] = {kind: [] for kind in variants}
        for _ in range(args.rounds):
            for kind in variants:  # interleaved, so drift hits every variant
                times = loop.run_until_complete(_measure(process.handler, signed[kind], args.calls))
                medians[kind].append(statistics.median(times) * 1e6)
        for kind in variants:
            rounds = ", ".join(f"{value:.0f}" for value in medians[kind])
            print(f"{kind:12s} {statistics.median(medians[kind]):6.1f} us/request ({rounds})")


if __name__ == "__main__":
    main()
