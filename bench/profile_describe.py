"""Profile the hot path of a signed DescribeCustomKeyStores (10-store page) under wrk load.

Starts `cks serve` (SQLite, 1 worker) on a free 127.0.0.1 port, drives it with wrk, records the
worker with py-spy (sampling, no code changes) and prints where the time goes: the share of
samples in which each function is on the stack (inclusive) and at the top (self). Needs py-spy
(`pip install py-spy` in the venv; it is not a project dependency).

    .venv/bin/python bench/profile_describe.py [--seconds 10] [--flamegraph out.svg]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import harness
import seed
from kmscks.service.secrets import Sealer


def _top(counter: Counter[str], total: int, limit: int) -> list[str]:
    return [f"{count / total:6.1%}  {name}" for name, count in counter.most_common(limit)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--limit", type=int, default=40, help="rows per table")
    parser.add_argument("--flamegraph", type=Path, help="also write an SVG flame graph")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy")
        return 2
    master_key = os.urandom(32)
    config = f'[server]\nmaster_key = "{base64.b64encode(master_key).decode()}"\n'
    with tempfile.TemporaryDirectory(prefix="cks-profile-") as name:
        folder = Path(name)
        (folder / "data").mkdir()
        store = seed.open_bench_store(None, folder / "data")
        sealer = Sealer(master_key)
        seed.add_measured(store, [seed.store_record(sealer, "us-east-1", i) for i in range(10)])
        store.close()
        service = harness.cks_service("profiled", folder, config=config)
        with harness.running(service, "/_cks/health") as cks:
            body, headers = harness.signed_request(cks.port, "DescribeCustomKeyStores", {})
            script = harness.wrk_script(folder, body, headers)
            load = threading.Thread(
                target=harness.load,
                args=("profile", cks, script),
                kwargs={"seconds": args.seconds + 2, "warmup": 1},
            )
            load.start()
            raw = folder / "profile.txt"
            worker = cks.worker_pids()[0]
            record = [py_spy, "record", "--pid", str(worker), "--rate", str(args.rate)]
            record += ["--duration", str(args.seconds), "--nonblocking"]
            subprocess.run(
                [*record, "--format", "raw", "--output", str(raw)],
                check=True,
                capture_output=True,
            )
            if args.flamegraph:
                subprocess.run(
                    [*record, "--output", str(args.flamegraph)], check=True, capture_output=True
                )
            load.join()
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        total = 0
        for line in raw.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            count = int(count_text)
            frames = [
                frame.split(" (")[0] + " (" + frame.split("/")[-1] for frame in stack.split(";")
            ]
            total += count
            for frame in set(frames):
                inclusive[frame] += count
            own[frames[-1]] += count
    print(f"{total} samples of the worker under wrk -c64 (signed Describe, 10-store page)\n")
    print("inclusive (on the stack):")
    print("\n".join(_top(inclusive, total, args.limit)))
    print("\nself (at the top of the stack):")
    print("\n".join(_top(own, total, args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
