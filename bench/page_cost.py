"""Page cost versus database size, in-process: the 100-store page Describe reads (`listing()`)
with 100 and with 1,000,000 stores in an SQLite database (100,000 other accounts), without HTTP
or load generator, so the comparison is free of the machine's scheduling noise.

    .venv/bin/python bench/page_cost.py [--stores 1000000] [--calls 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import seed  # bench/seed.py
from kmscks.service.secrets import Sealer
from kmscks.store.sql import SqlStore


def seeded_store(folder: Path, total: int) -> SqlStore:
    store = seed.open_bench_store(None, folder)
    seed.fill(
        store,
        Sealer(b"b" * 32),
        measured_region="us-west-2",
        measured=100,
        filler=total - 100,
        accounts=100_000,
    )
    return store


def page_us(store: SqlStore) -> float:
    started = time.perf_counter()
    page = store.listing(seed.MEASURED_ACCOUNT, "us-west-2", 0, 100)
    elapsed = time.perf_counter() - started
    assert len(page) == 100
    return elapsed * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as small_dir, tempfile.TemporaryDirectory() as large_dir:
        stores = (seeded_store(Path(small_dir), 100), seeded_store(Path(large_dir), args.stores))
        timings: tuple[list[float], list[float]] = ([], [])
        # Alternate the two databases call by call, so drift in the machine's load hits both.
        for _ in range(args.calls):
            for store, times in zip(stores, timings, strict=True):
                times.append(page_us(store))
        for store in stores:
            store.close()
    small, large = (statistics.median(times) for times in timings)
    print(f"100-store page, 100 stores:        {small:7.0f} us (median of {args.calls})")
    print(f"100-store page, {args.stores:,} stores: {large:7.0f} us")
    print(f"ratio: {large / small:.2f}x")


if __name__ == "__main__":
    main()
