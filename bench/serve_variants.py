"""Signed Describe (10-store page) against `cks serve` variants that differ only in options.

Used for what the request log costs (`--log-level info` writes one line per request, to a file
here as a service manager would; `warning` writes none), for the default worker count (one
per core vs one, on 2 cores and pinned to 1 with taskset) and for what the request quota's
shared buckets cost (a variant's text after `|` is added to its config file, `\\n` for a line
break). The variants run back to back in each round, the order alternating, on the same seeded
SQLite database (or an empty PostgreSQL one given with `--database-url`).

    .venv/bin/python bench/serve_variants.py --rounds 3 --workers 2     # log on vs off
    .venv/bin/python bench/serve_variants.py --rounds 3 \
        --variants "1=--workers 1 --log-level warning;default=--log-level warning"
    .venv/bin/python bench/serve_variants.py --rounds 3 --cpus 0 \
        --variants "1=--workers 1 --log-level warning;default=--log-level warning"
    .venv/bin/python bench/serve_variants.py --rounds 3 --workers 2 --variants \
        "off=--log-level warning;on=--log-level warning|[limits]\\nrequests_per_second = 1000000"
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import harness
import seed
from harness import PYTHON, LoadResult, Service, free_port, load, running
from kmscks.service.secrets import Sealer


def _service(
    name: str,
    folder: Path,
    config: Path,
    workers: int | None,
    extra: list[str],
    cpus: str | None,
    database_url: str | None,
) -> Service:
    args = [PYTHON, "-m", "kmscks", "serve", "--port", str(free_port()), "--config", str(config)]
    if database_url:
        args += ["--database-url", database_url, "--key-dir", str(folder / "data")]
    else:
        args += ["--data-dir", str(folder / "data")]
    args += extra
    if workers is not None:
        args += ["--workers", str(workers)]
    if cpus is not None:
        args = ["taskset", "-c", cpus, *args]
    port = int(args[args.index("--port") + 1])
    # How many workers will listen (the harness waits for each): the last --workers, else
    # cks serve's default of one per core it may use.
    if "--workers" in args:
        count = int(args[len(args) - args[::-1].index("--workers")])
    else:
        count = len(_cpu_list(cpus)) if cpus is not None else len(os.sched_getaffinity(0))
    return Service(name, args, port, log_path=folder / f"{name}.log", workers=count)


def _cpu_list(cpus: str) -> set[int]:
    """The CPUs of a taskset list such as "0", "0,1" or "0-1"."""
    found: set[int] = set()
    for part in cpus.split(","):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, help="passed to every variant (else its own)")
    parser.add_argument("--format", default="text", choices=["text", "json"])
    parser.add_argument("--cpus", help="pin the server to these CPUs (taskset -c)")
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database to serve from instead of SQLite"
    )
    parser.add_argument(
        "--variants",
        default="log on=--log-level info;log off=--log-level warning",
        # Every variant also gets --log-format FORMAT; the last --log-level/--workers wins.
        help="label=extra serve arguments, separated by ';'",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cks-bench-variants-"))
    master_key = os.urandom(32)
    base_config = f'[server]\nmaster_key = "{base64.b64encode(master_key).decode()}"\n'
    variants: list[tuple[str, list[str], Path]] = []
    for label, _, text in (v.partition("=") for v in args.variants.split(";")):
        extra, _, config_lines = text.partition("|")
        config = folder / f"{label.replace(' ', '-')}.toml"
        config.write_text(base_config + config_lines.replace("\\n", "\n") + "\n")
        variants.append((label, [*extra.split(), "--log-format", args.format], config))
    (folder / "data").mkdir()
    store = seed.open_bench_store(args.database_url, folder / "data")
    sealer = Sealer(master_key)
    seed.add_measured(store, [seed.store_record(sealer, "us-east-1", i) for i in range(10)])
    store.close()
    rows: dict[str, list[LoadResult]] = {label: [] for label, _, _ in variants}
    print(f"load average at start: {harness.load_average()}", flush=True)
    for round_number in range(args.rounds):
        order = variants if round_number % 2 == 0 else variants[::-1]
        for label, extra, config in order:
            service = _service(
                label.replace(" ", "-"),
                folder,
                config,
                args.workers,
                extra,
                args.cpus,
                args.database_url,
            )
            with running(service, "/_cks/health"):
                body, headers = harness.signed_request(service.port, "DescribeCustomKeyStores", {})
                script = harness.wrk_script(folder, body, headers)
                row = load(label, service, script, seconds=args.seconds)
            rows[label].append(row)
            print(
                f"round {round_number + 1} {label:<10} {row.rps:8.0f} req/s"
                f"  p99 {row.p99_ms:6.2f} ms  CPU {row.cpu_us_per_request:5.0f} us/req"
                f"  errors {row.errors}",
                flush=True,
            )
    shutil.rmtree(folder, ignore_errors=True)
    print(f"median of {args.rounds} rounds, --workers {args.workers}, format {args.format}:")
    for label, results in rows.items():
        print(
            f"  {label:<10} {statistics.median(r.rps for r in results):8.0f} req/s"
            f"  CPU {statistics.median(r.cpu_us_per_request for r in results):5.0f} us/req"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
