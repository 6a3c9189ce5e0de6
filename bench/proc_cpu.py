"""Each process's share of a core, second by second, while a benchmark runs beside it.

A benchmark aid, not a test. The harness reports CPU per request for a whole process group;
this tells whether a run is CPU-bound and where: one line per second with every process of
cks, its XKS proxy and wrk that used more than 5% of a core in that second (100% is one core).
Start it, then the benchmark, in the same shell:

    .venv/bin/python bench/proc_cpu.py --seconds 150 > cpu.log &
    .venv/bin/python bench/run_all.py --only crypto --rounds 1 --seconds 5 --warmup 1 --no-postgres
"""

from __future__ import annotations

import argparse
import os
import time

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
WATCHED = ("kmscks", "cks ", "granian", "wrk", "bench/")


def _watched() -> dict[int, tuple[int, str]]:
    """pid -> (user + system ticks so far, a short name) for the processes worth watching."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                command = file.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if not any(mark in command for mark in WATCHED) or "proc_cpu.py" in command:
            continue
        found[int(entry)] = (int(fields[11]) + int(fields[12]), command[:48])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    before = _watched()
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        time.sleep(1.0)
        now = _watched()
        busy = [
            f"{pid} {100 * (ticks - before[pid][0]) / TICKS_PER_SECOND:.0f}% {name}"
            for pid, (ticks, name) in sorted(now.items())
            if pid in before and ticks - before[pid][0] > 0.05 * TICKS_PER_SECOND
        ]
        if busy:
            print(time.strftime("%H:%M:%S"), " | ".join(busy), flush=True)
        before = now


if __name__ == "__main__":
    main()
