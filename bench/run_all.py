"""Every cks benchmark in one run, side by side on this machine; prints every figure.

    .venv/bin/python bench/run_all.py            # what `make bench` runs (about 30 minutes)
    .venv/bin/python bench/run_all.py --quick    # shorter runs, 100,000 filler stores
    .venv/bin/python bench/run_all.py --only describe,stack --json results.json

Sections (docs/benchmarks.md explains each and records the figures):
  describe  signed DescribeCustomKeyStores (10-store page) vs the trivial endpoint on the same
            HTTP stack (granian RSGI): SQLite and PostgreSQL, 1 and 2 workers, wrk -c64
  reference the trivial endpoint itself, interleaved: the first and second measured run after a
            start, the body not read, GET instead of the signed POST (docs: why an independent
            reference read higher)
  ceiling   the trivial endpoint plus a fixed amount of pure-Python work per request, and plus
            only the SQLite read of Describe's page: what any handler could reach on this stack
  stack     the trivial endpoint on granian RSGI, granian ASGI and uvicorn (httptools + uvloop)
  size      a 100-store page with 100 stores vs with 1,000,000 stores (100,000 accounts) in the
            database, with the workers' resident memory idle and under load
  connect   external key store connects per second against a test proxy
  hotpath   with --baseline DIR: the describe figure of another checkout (before the profiling
            work) and of this one, side by side
  crypto    Encrypt/Decrypt with an XKS key (vs the same XKS proxy called directly, 16
            connections), a CloudHSM key and an AWS_KMS key (vs the trivial endpoint), 1 and 2
            workers (bench/crypto_bench.py)
  xks-proxy   the bundled XKS proxy (bench/xks_proxy_bench.py, its own section of the docs)
  xks-client  the KMS side's XKS key client (bench/xks_client_bench.py, its own section)
  cli-startup `cks kms` vs `aws kms` start-up (bench/cli_startup.py, its own section)

Load comes from wrk (Debian package) with a Lua script holding a request signed just before
the run. Every server is started here on a free 127.0.0.1 port and stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import crypto_bench
import harness
import seed
import trivial_app
from harness import LoadResult, Service, cks_service, load, running, trivial_service
from kmscks.service.secrets import Sealer
from kmscks.service.views import list_entry
from kmscks.store.sql import SqlStore

POSTGRES_ADMIN = os.environ.get(
    "CKS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SECTIONS = (
    "describe",
    "reference",
    "ceiling",
    "stack",
    "size",
    "connect",
    "hotpath",
    "crypto",
    "xks-proxy",
    "xks-client",
    "cli-startup",
)
# Pure-Python work per request in the ceiling section: about what SigV4 and JSON alone cost
# (25 us), and about what cks's whole Describe handler costs in-process (50 us).
CEILING_BUSY_US = (25, 50)
HEALTHY = {
    "xksProxyFleetSize": 1,
    "xksProxyVendor": "cks-bench",
    "xksProxyModel": "trivial_app",
    "ekmVendor": "bench",
    "ekmFleetDetails": [{"id": "ekm-1", "model": "soft", "healthStatus": "ACTIVE"}],
}


def say(text: str = "") -> None:
    print(text, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.master_key = os.urandom(32)
        self.sealer = Sealer(self.master_key)
        self.results: dict[str, Any] = {}
        self.postgres = not args.no_postgres and _postgres_ok()
        self._databases: list[str] = []
        self._describe_answer = b""

    @property
    def base_config(self) -> str:
        return f'[server]\nmaster_key = "{base64.b64encode(self.master_key).decode()}"\n'

    # -- databases ---------------------------------------------------------------------------

    @contextmanager
    def database(self, kind: str, label: str) -> Iterator[tuple[str | None, Path]]:
        """A fresh SQLite data dir or PostgreSQL database: (database_url, folder)."""
        folder = self.folder / f"{kind}-{label}"
        (folder / "data").mkdir(parents=True)
        if kind == "sqlite":
            yield None, folder
            return
        import psycopg

        name = f"cks_bench_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", folder
        finally:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def kinds(self) -> list[str]:
        return ["sqlite", "postgres"] if self.postgres else ["sqlite"]

    # -- helpers -----------------------------------------------------------------------------

    def load(self, label: str, service: Service, script: Path) -> LoadResult:
        result = load(
            label,
            service,
            script,
            connections=self.args.connections,
            threads=self.args.wrk_threads,
            seconds=self.args.seconds,
            warmup=self.args.warmup,
        )
        harness.print_result(result)
        return result

    def describe_script(
        self, service: Service, params: dict[str, Any], region: str, stores: int
    ) -> tuple[Path, bytes]:
        body, headers = harness.signed_request(
            service.port, "DescribeCustomKeyStores", params, region
        )
        status, answer = harness.post(service.port, body, headers)
        page = json.loads(answer)
        if status != 200 or len(page.get("CustomKeyStores", ())) != stores:
            raise RuntimeError(f"unexpected answer from {service.name}: {status} {answer[:200]!r}")
        return harness.wrk_script(self.folder, body, headers), answer

    def ten_store_page(self, database_url: str | None, data_dir: Path) -> SqlStore:
        """The database the Describe runs read: 10 external key stores of the measured account
        in us-east-1. The caller closes it."""
        store = seed.open_bench_store(database_url, data_dir)
        seed.add_measured(
            store, [seed.store_record(self.sealer, "us-east-1", i) for i in range(10)]
        )
        return store

    # -- sections ----------------------------------------------------------------------------

    def describe(self) -> None:
        say("\n## describe: signed DescribeCustomKeyStores (10-store page) vs trivial endpoint")
        rows: list[LoadResult] = []
        with self.database("sqlite", "describe") as (_, sqlite_dir):
            store = self.ten_store_page(None, sqlite_dir / "data")
            store.close()
            with self._maybe_postgres("describe") as postgres:
                for round_number in range(self.args.rounds):
                    say(f"round {round_number + 1}")
                    for workers in _alternate((1, 2), round_number):
                        rows += self._describe_round(workers, sqlite_dir, postgres, round_number)
        self.results["describe"] = [row.row() for row in rows]
        say(
            "\nmedian of the rounds (by req/s); ratio = describe req/s / trivial req/s with the"
            " same workers, per round, then the median; 'to fixed': to the endpoint that does not"
            " read the body"
        )
        summary = harness.medians(rows)
        for label in sorted(summary, key=lambda label: label.rsplit(" ", 1)[1]):
            row = summary[label]
            worker_count = label.rsplit(" ", 1)[1]
            ratios = harness.round_ratios(rows, label, f"trivial {worker_count}")
            ratio = statistics.median(ratios)
            fixed = harness.round_ratios(rows, label, f"fixed {worker_count}")
            # The tail moves more between rounds than the throughput: its own median.
            p99s = [r.p99_ms for r in rows if r.label == label]
            say(
                f"  {label:<12} {row.rps:>8.0f} req/s  p50 {row.p50_ms:6.2f}"
                f"  p99 {statistics.median(p99s):6.2f} ms (rounds: {harness.join(p99s, '.1f')})"
                f"  {row.cpu_us_per_request:4.0f} us CPU/req  ratio {ratio:6.1%}"
                f" (rounds: {harness.join(ratios, '.0%')})"
                f"  to fixed {statistics.median(fixed):6.1%} (rounds: {harness.join(fixed, '.0%')})"
            )
            self.results.setdefault("describe_summary", {})[label] = {
                **row.row(),
                "p99_ms_median_of_rounds": statistics.median(p99s),
                "ratio_to_trivial": ratio,
                "ratio_to_fixed": statistics.median(fixed),
            }

    @contextmanager
    def _maybe_postgres(self, label: str) -> Iterator[tuple[str, Path] | None]:
        if not self.postgres:
            yield None
            return
        with self.database("postgres", label) as (url, folder):
            assert url is not None
            store = self.ten_store_page(url, folder)
            store.close()
            yield url, folder

    def _describe_round(
        self,
        workers: int,
        sqlite_dir: Path,
        postgres: tuple[str, Path] | None,
        round_number: int,
    ) -> list[LoadResult]:
        """One run of each variant with `workers` workers. The order turns round by round, so
        that no variant is always the one measured right after a given other one (the trivial
        endpoint was always measured just after the SQLite server had stopped)."""

        def cks(label: str, database_url: str | None, folder: Path) -> LoadResult:
            service = cks_service(
                f"{label}-{workers}w",
                folder,
                workers=workers,
                database_url=database_url,
                config=self.base_config,
            )
            with running(service, "/_cks/health") as started:
                script, self._describe_answer = self.describe_script(started, {}, "us-east-1", 10)
                return self.load(f"{label} {workers}", started, script)

        def trivial(label: str, env: dict[str, str]) -> LoadResult:
            # The same request as Describe's (signed POST), answered with the bytes of
            # Describe's page; `fixed` does not read the request's body (cks must).
            answer = self._describe_answer or self._page_answer(sqlite_dir)
            service = trivial_service(
                f"{label}-{workers}w", self.folder, answer, workers=workers, env=env
            )
            with running(service) as started:
                body, headers = harness.signed_request(started.port, "DescribeCustomKeyStores", {})
                script = harness.wrk_script(self.folder, body, headers)
                return self.load(f"{label} {workers}", started, script)

        variants: list[Callable[[], LoadResult]] = [
            lambda: cks("sqlite", None, sqlite_dir),
            lambda: trivial("trivial", {}),
            lambda: trivial("fixed", {trivial_app.SKIP_BODY_VARIABLE: "1"}),
        ]
        if postgres is not None:
            url, folder = postgres
            variants.append(lambda: cks("postgres", url, folder))
        turn = round_number % len(variants)
        return [variant() for variant in variants[turn:] + variants[:turn]]

    def _page_answer(self, sqlite_dir: Path) -> bytes:
        """Describe's answer for the 10-store page, from a server started for it."""
        service = cks_service("answer", sqlite_dir, config=self.base_config)
        with running(service, "/_cks/health") as started:
            _, answer = self.describe_script(started, {}, "us-east-1", 10)
        return answer

    def reference(self) -> None:
        """The trivial endpoint measured in the ways a reference could be measured."""
        say("\n## reference: the trivial endpoint, run after run and request by request")
        answer = self._page_answer_once()
        get_script = self.folder / "get.lua"
        get_script.write_text(harness.LUA_DONE)  # no request set: wrk's own GET /

        def post(started: Service) -> Path:
            body, headers = harness.signed_request(started.port, "DescribeCustomKeyStores", {})
            return harness.wrk_script(self.folder, body, headers)

        def variant(workers: int, kind: str) -> list[LoadResult]:
            env = {} if kind == "read" else {trivial_app.SKIP_BODY_VARIABLE: "1"}
            service = trivial_service(
                f"reference-{kind}-{workers}w", self.folder, answer, workers=workers, env=env
            )
            with running(service) as started:
                if kind == "get":
                    return [self.load(f"GET, body not read, {workers}", started, get_script)]
                script = post(started)
                if kind == "skip":
                    return [self.load(f"POST, body not read, {workers}", started, script)]
                first = self.load(f"POST, body read, 1st run, {workers}", started, script)
                return [first, self.load(f"POST, body read, 2nd run, {workers}", started, script)]

        rows: list[LoadResult] = []
        kinds = ["read", "skip", "get"]
        for round_number in range(self.args.rounds):
            say(f"round {round_number + 1}")
            for workers in _alternate((1, 2), round_number):
                turn = round_number % len(kinds)
                for kind in kinds[turn:] + kinds[:turn]:
                    rows += variant(workers, kind)
        self.results["reference"] = [row.row() for row in rows]
        say("\nmedian of the rounds (by req/s); ratio to the 2nd POST run, per round, then median")
        summary = harness.medians(rows)
        for label in sorted(summary, key=lambda label: label.rsplit(" ", 1)[1]):
            row = summary[label]
            worker_count = label.rsplit(" ", 1)[1]
            ratios = harness.round_ratios(rows, label, f"POST, body read, 2nd run, {worker_count}")
            say(
                f"  {label:<28} {row.rps:>8.0f} req/s  p99 {row.p99_ms:6.2f} ms"
                f"  {row.cpu_us_per_request:4.0f} us CPU/req"
                f"  ratio {statistics.median(ratios):5.2f} (rounds: {harness.join(ratios, '.2f')})"
            )

    def _page_answer_once(self) -> bytes:
        if not self._describe_answer:
            with self.database("sqlite", "answer") as (_, folder):
                self.ten_store_page(None, folder / "data").close()
                self._describe_answer = self._page_answer(folder)
        return self._describe_answer

    def ceiling(self) -> None:
        """What the stack leaves for a handler: the trivial endpoint with extra work added."""
        say("\n## ceiling: the trivial endpoint plus fixed work per request, 1 and 2 workers")
        variants: list[tuple[str, dict[str, str]]] = [("trivial", {})]
        variants += [(f"busy {us} us", {"CKS_BENCH_BUSY_US": str(us)}) for us in CEILING_BUSY_US]
        rows = []
        with self.database("sqlite", "ceiling") as (_, folder):
            store = self.ten_store_page(None, folder / "data")
            # The answer Describe gives for this page, as in the describe section.
            page = store.listing(seed.MEASURED_ACCOUNT, "us-east-1", 0, 10)
            body = json.dumps(
                {"CustomKeyStores": [list_entry(row) for row in page], "Truncated": False},
                separators=(",", ":"),
            ).encode()
            store.close()
            variants.append(("page read", {"CKS_BENCH_LISTING_DIR": str(folder / "data")}))
            for round_number in range(self.args.rounds):
                say(f"round {round_number + 1}")
                for workers in (1, 2):
                    for label, env in variants:
                        service = trivial_service(
                            f"{label.replace(' ', '-')}-{workers}w",
                            self.folder,
                            body,
                            workers=workers,
                            env=env,
                        )
                        with running(service) as started:
                            _, headers = harness.signed_request(started.port, "X", {})
                            script = harness.wrk_script(self.folder, b"{}", headers)
                            rows.append(self.load(f"{label}, {workers}", started, script))
        self.results["ceiling"] = [row.row() for row in rows]
        say(
            "\nmedian of the rounds (by req/s); ratio to the trivial endpoint with the same workers"
        )
        for label, row in harness.medians(rows).items():
            worker_count = label.rsplit(" ", 1)[1]
            ratios = harness.round_ratios(rows, label, f"trivial, {worker_count}")
            say(
                f"  {label:<16} {row.rps:>8.0f} req/s  p99 {row.p99_ms:6.2f} ms"
                f"  {row.cpu_us_per_request:4.0f} us CPU/req"
                f"  ratio {statistics.median(ratios):6.1%}"
            )

    def stack(self) -> None:
        say("\n## stack: the trivial endpoint (1 worker) on three HTTP stacks")
        body = json.dumps({"CustomKeyStores": [], "Truncated": False}).encode()
        rows = []
        for round_number in range(self.args.rounds):
            say(f"round {round_number + 1}")
            for server, interface in (
                ("granian", "rsgi"),
                ("granian", "asgi"),
                ("uvicorn", "asgi"),
            ):
                service = trivial_service(
                    f"{server}-{interface}", self.folder, body, server=server, interface=interface
                )
                with running(service) as started:
                    _, headers = harness.signed_request(started.port, "X", {})
                    script = harness.wrk_script(self.folder, b"{}", headers)
                    rows.append(self.load(f"{server} {interface}", started, script))
        self.results["stack"] = [row.row() for row in rows]
        say("\nmedian of the rounds (by req/s)")
        for label, row in harness.medians(rows).items():
            say(
                f"  {label:<14} {row.rps:>8.0f} req/s  p99 {row.p99_ms:6.2f} ms"
                f"  {row.cpu_us_per_request:4.0f} us CPU/req"
            )

    def hotpath(self) -> None:
        """The describe figure before and after the profiling work, side by side."""
        baseline = self.args.baseline
        if baseline is None:
            return
        say(f"\n## hotpath: signed Describe (SQLite, 1 worker), {baseline} vs this checkout")
        rows = []
        with self.database("sqlite", "hotpath") as (_, folder):
            store = self.ten_store_page(None, folder / "data")
            store.close()
            for round_number in range(self.args.rounds):
                say(f"round {round_number + 1}")
                for label, source in (("before", baseline), ("after", None)):
                    for workers in (1, 2):
                        service = cks_service(
                            f"{label}-{workers}w",
                            folder,
                            workers=workers,
                            config=self.base_config,
                            source=source,
                        )
                        with running(service, "/_cks/health") as cks:
                            script, _ = self.describe_script(cks, {}, "us-east-1", 10)
                            rows.append(self.load(f"{label} {workers}", cks, script))
        self.results["hotpath"] = [row.row() for row in rows]
        say("\nmedian of the rounds (by req/s)")
        for label, row in harness.medians(rows).items():
            say(
                f"  {label:<10} {row.rps:>8.0f} req/s  p99 {row.p99_ms:6.2f} ms"
                f"  {row.cpu_us_per_request:4.0f} us CPU/req"
            )

    def size(self) -> None:
        big = self.args.stores
        say(f"\n## size: a 100-store page with 100 vs {big:,} stores in the database")
        rows = []
        for kind in self.kinds():
            for total in (100, big):
                label = f"{kind} {total:,}"
                with self.database(kind, f"size{total}") as (url, folder):
                    store = seed.open_bench_store(url, folder / "data")
                    seconds = seed.fill(
                        store,
                        self.sealer,
                        measured_region="us-west-2",
                        measured=100,
                        filler=total - 100,
                        accounts=self.args.accounts,
                        filler_region="us-west-2",
                    )
                    say(f"seeded {seed.count_rows(store):,} rows ({kind}) in {seconds:.1f} s")
                    store.close()
                    for workers in (1, 2) if total == big else (1,):
                        service = cks_service(
                            f"size-{workers}w",
                            folder,
                            workers=workers,
                            database_url=url,
                            config=self.base_config,
                        )
                        with running(service, "/_cks/health") as cks:
                            script, _ = self.describe_script(cks, {"Limit": 100}, "us-west-2", 100)
                            rows.append(self.load(f"{label} {workers}w", cks, script))
        self.results["size"] = [row.row() for row in rows]
        by_label = {row.label: row for row in rows}
        for kind in self.kinds():
            small, large = by_label[f"{kind} 100 1w"], by_label[f"{kind} {big:,} 1w"]
            say(
                f"  {kind}: page cost ratio {small.rps / large.rps:.2f}x by req/s,"
                f" {large.cpu_us_per_request / small.cpu_us_per_request:.2f}x by server CPU,"
                f" p50 {small.p50_ms:.2f} -> {large.p50_ms:.2f} ms"
            )

    def connect(self) -> None:
        count = self.args.connects
        say(f"\n## connect: {count} external key store connects against a test proxy")
        proxy = trivial_service("health-proxy", self.folder, json.dumps(HEALTHY).encode())
        rows = []
        with running(proxy):
            config = (
                self.base_config
                + f"transition_delay_ms = 0\n\n[limits]\ncustom_key_stores = {count + 10}\n\n"
                + f'[xks]\nresolve = {{ "xks.bench.test" = "127.0.0.1:{proxy.port}" }}\n'
                + 'allow_http = ["xks.bench.test"]\ntimeout_ms = 2000\nsystem_dns = false\n'
            )
            for kind in self.kinds():
                for workers in (1, 2):
                    with self.database(kind, f"connect{workers}") as (url, folder):
                        rows.append(self._connects(kind, url, folder, workers, config, count))
        self.results["connect"] = rows

    def _connects(
        self, kind: str, url: str | None, folder: Path, workers: int, config: str, count: int
    ) -> dict[str, Any]:
        store = seed.open_bench_store(url, folder / "data")
        records = [
            seed.store_record(self.sealer, "us-east-1", i, prefix="c", host="xks.bench.test")
            for i in range(count)
        ]
        seed.add_measured(store, records)
        service = cks_service(
            f"connect-{workers}w", folder, workers=workers, database_url=url, config=config
        )
        with running(service, "/_cks/health") as cks:
            requests = [
                harness.signed_request(
                    cks.port, "ConnectCustomKeyStore", {"CustomKeyStoreId": record.id}
                )
                for record in records
            ]
            started = time.monotonic()
            answered = _send_all(cks.port, requests, threads=8)
            sent = time.monotonic() - started
            states = _wait_settled(store, timeout=120)
            elapsed = time.monotonic() - started
        store.close()
        row = {
            "label": f"{kind} {workers}w",
            "connects": count,
            "answered_ok": answered,
            "seconds": elapsed,
            "connects_per_second": count / elapsed,
            "requests_per_second": count / sent,
            "states": states,
        }
        say(
            f"  {row['label']:<12} {row['connects_per_second']:7.0f} connects/s"
            f" (all {count} settled in {elapsed:.2f} s; Connect answered at"
            f" {row['requests_per_second']:.0f}/s; states {states})"
        )
        return row

    def xks_proxy(self) -> None:
        self._other("xks-proxy", "xks_proxy_bench.py", [])

    def xks_client(self) -> None:
        self._other("xks-client", "xks_client_bench.py", [])

    def cli_startup(self) -> None:
        self._other("cli-startup", "cli_startup.py", ["--runs", "10" if self.args.quick else "20"])

    def _other(self, section: str, name: str, arguments: list[str]) -> None:
        """Another benchmark of bench/, run as it is (it prints its own figures)."""
        script = harness.BENCH_DIR / name
        if not script.exists():
            return
        say(f"\n## {section}: bench/{name} (its own section of docs/benchmarks.md)")
        done = subprocess.run([sys.executable, str(script), *arguments], check=False, timeout=900)
        if done.returncode:
            say(f"bench/{name} exited with status {done.returncode}")


def _send_all(port: int, requests: list[tuple[bytes, dict[str, str]]], threads: int) -> int:
    """Send pre-signed requests over keep-alive connections from a few threads; 200s seen."""
    answered = [0] * threads

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for body, headers in requests[index::threads]:
                conn.request("POST", "/", body, headers)
                response = conn.getresponse()
                response.read()
                answered[index] += response.status == 200
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(answered)


def _wait_settled(store: Any, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        rows = store._execute(
            "SELECT connection_state, COUNT(*) FROM custom_key_stores GROUP BY connection_state"
        ).fetchall()
        states = {state: int(n) for state, n in rows}
        if "CONNECTING" not in states or time.monotonic() > deadline:
            return states
        time.sleep(0.02)


def _alternate(items: tuple[int, ...], round_number: int) -> tuple[int, ...]:
    """`items` in odd rounds, reversed in even ones."""
    return items if round_number % 2 == 0 else items[::-1]


def _postgres_ok() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


def _python_loop_ns() -> float:
    """Nanoseconds per iteration of a plain Python loop (median of 5): how fast this machine
    runs Python today. Machines of the same kind differ by up to 4x here, and the service's
    ratios to the trivial endpoint (mostly Rust) move with it, so every run records it."""
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for value in range(1_000_000):
            total += value
        timings.append((time.perf_counter() - started) * 1000)  # ns per iteration: ms / 1e6
    return round(statistics.median(timings), 1)


def _environment() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average_at_start": harness.load_average(),
        "python_loop_ns": _python_loop_ns(),
        "python": platform.python_version(),
        "granian": version("granian"),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()[
            :2
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every cks benchmark and print the figures.")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--xks-connections", type=int, default=16, help="crypto section: XKS key and proxy runs"
    )
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each comparison")
    parser.add_argument("--stores", type=int, default=1_000_000, help="big database size")
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts of the filler")
    parser.add_argument("--connects", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 round, 100,000 stores")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="hotpath section: a checkout (git worktree) whose src/ is the 'before'",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.rounds = 3.0, 1.0, 1
        args.stores, args.accounts, args.connects = 100_000, 10_000, 500
    if not harness.wrk_available():
        say("wrk is not installed (Debian package wrk; `make system-deps`)")
        return 2
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {sorted(unknown)}")
    environment = _environment()
    say(f"# cks benchmarks {json.dumps(environment)}")
    with tempfile.TemporaryDirectory(prefix="cks-bench-") as folder:
        bench = Bench(args, Path(folder))
        if args.no_postgres:
            say("PostgreSQL variants are left out (--no-postgres)")
        elif not bench.postgres:
            where = POSTGRES_ADMIN.rpartition("@")[2]  # the host and database, no password
            say(f"PostgreSQL is not reachable at {where}: its variants are left out")
        steps: dict[str, Callable[[], None]] = {
            "describe": bench.describe,
            "reference": bench.reference,
            "ceiling": bench.ceiling,
            "stack": bench.stack,
            "size": bench.size,
            "connect": bench.connect,
            "hotpath": bench.hotpath,
            "crypto": lambda: crypto_bench.run(bench),
            "xks-proxy": bench.xks_proxy,
            "xks-client": bench.xks_client,
            "cli-startup": bench.cli_startup,
        }
        for name in sections:
            steps[name]()
        bench.results["environment"] = environment
        if args.json:
            args.json.write_text(json.dumps(bench.results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
