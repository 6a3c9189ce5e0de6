"""The trivial endpoint's CPU per request as a function of how busy its workers are.

A benchmark, not a test: it starts the trivial endpoint (bench/trivial_app.py, the signed
Describe request with its body read, the 10-store page's size of answer) with 1 and 2 workers
and drives it with wrk at 2, 8 and 64 connections on the same server, round after round. It
shows why the reference's figures depend on the machine's state (docs/benchmarks.md, "The
trivial endpoint as a reference"): the fewer requests each wake-up of a worker finds waiting,
the more CPU each request costs.

    .venv/bin/python bench/reference_concurrency.py [--rounds 2] [--seconds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import harness

PAGE_SIZE_BYTES = 3629  # the 10-store Describe page's answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cks-bench-") as tmp:
        folder = Path(tmp)
        answer = b'{"CustomKeyStores":[' + b" " * (PAGE_SIZE_BYTES - 40) + b'],"Truncated":false}'
        for round_number in range(args.rounds):
            for workers in (1, 2) if round_number % 2 == 0 else (2, 1):
                service = harness.trivial_service(f"t{workers}", folder, answer, workers=workers)
                with harness.running(service) as started:
                    body, headers = harness.signed_request(
                        started.port, "DescribeCustomKeyStores", {}
                    )
                    script = harness.wrk_script(folder, body, headers)
                    cells = []
                    for connections in (2, 8, 64):
                        row = harness.load(
                            f"c{connections}",
                            started,
                            script,
                            connections=connections,
                            threads=2,
                            seconds=args.seconds,
                            warmup=args.warmup,
                        )
                        cells.append(
                            f"{connections} conns {row.rps:6.0f} req/s"
                            f" {row.cpu_us_per_request:4.0f} us CPU/req"
                        )
                print(
                    f"round {round_number + 1}, {workers} worker(s): " + " | ".join(cells),
                    f"(machine idle {row.machine_idle:.0%}, load {row.load_average:.1f})",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
