"""Shared pieces of the cks benchmarks: processes, wrk runs, signing, CPU and memory sampling.

Not a test: nothing here asserts; it measures and returns figures. Every process it starts is
in its own session and is killed (whole process group) by `Service.stop`. Traffic goes only to
127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmscks import sigv4_sign

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The uvicorn stack the benchmarks compare with granian: httptools and uvloop, no access log.
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "access_log": False,
    "log_level": "warning",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- processes ---------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            text = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        children = [int(child) for child in text.split()]
        found += children
        pending += children
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * PAGE_SIZE / (1 << 20)


@dataclass
class Service:
    """A server process group on 127.0.0.1:port."""

    name: str
    args: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    workers: int = 1
    tls: bool = False  # serves HTTPS (the XKS proxy); the readiness probe does not verify it
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/", timeout: float = 30.0) -> Service:
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **self.env},
            cwd=REPO,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early (log: {self.log_path})")
            try:
                context = ssl._create_unverified_context() if self.tls else None
                with urllib.request.urlopen(self.url + ready_path, timeout=1, context=context):
                    break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"{self.name} did not become ready")
        # The probe reaches one worker only. granian's workers each bind their own socket
        # (SO_REUSEPORT) once their app is loaded, and the kernel spreads new connections over
        # the sockets listening at connect time: a worker that binds late would see none of
        # wrk's connections. So wait for one listening socket per worker, then for the whole
        # group to go idle (no start-up CPU left to overlap the measurement).
        while listening_sockets(self.port) < self.workers:
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name}: fewer than {self.workers} workers listen")
            time.sleep(0.02)
        wait_idle(self.pids(), deadline)
        return self

    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid, *descendants(self.process.pid)]

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: granian's workers (uvicorn with 1 worker: itself)."""
        assert self.process is not None
        children = descendants(self.process.pid)
        return children or [self.process.pid]

    def stop(self) -> None:
        """Stop the whole process group and wait until every process of it is gone (waiting
        for the parent alone would let a worker's exit overlap the next measurement)."""
        if self.process is None:
            return
        group = self.process.pid
        if self.process.poll() is None:
            try:
                os.killpg(group, signal.SIGTERM)
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while _group_alive(group):
            if time.monotonic() > deadline:
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    break
            time.sleep(0.01)
        self.process.wait(10)


def _group_alive(group: int) -> bool:
    """Whether a process of the group still runs (zombies, reaped or not, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":  # pgrp, state
            return True
    return False


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on 127.0.0.1:port (one per granian worker)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            count += 1
    return count


def wait_idle(pids: list[int], deadline: float, window: float = 0.25) -> None:
    """Until the processes use less than 5% of one core over `window` seconds."""
    before = cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(window)
        after = cpu_seconds(pids)
        if after - before < 0.05 * window:
            return
        before = after


def cks_service(
    name: str,
    folder: Path,
    *,
    workers: int = 1,
    database_url: str | None = None,
    config: str = "",
    source: Path | None = None,
) -> Service:
    """`cks serve` on a free port; `source` runs another checkout's src/ (a baseline)."""
    port = free_port()
    config_path = folder / f"{name}.toml"
    config_path.write_text(config)
    args = [PYTHON, "-m", "kmscks", "serve", "--port", str(port), "--workers", str(workers)]
    args += ["--config", str(config_path), "--log-level", "warning"]
    if database_url:
        args += ["--database-url", database_url, "--key-dir", str(folder / "data")]
    else:
        args += ["--data-dir", str(folder / "data")]
    env = {"PYTHONPATH": str(source / "src")} if source else {}
    return Service(name, args, port, env=env, log_path=folder / f"{name}.log", workers=workers)


def trivial_service(
    name: str,
    folder: Path,
    body: bytes,
    *,
    server: str = "granian",
    interface: str = "rsgi",
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> Service:
    port = free_port()
    body_path = folder / f"{name}.body"
    body_path.write_bytes(body)
    args = [PYTHON, str(BENCH_DIR / "trivial_app.py"), "--server", server]
    args += ["--interface", interface, "--port", str(port), "--workers", str(workers)]
    return Service(
        name,
        args,
        port,
        env={"CKS_BENCH_BODY_FILE": str(body_path), **(env or {})},
        log_path=folder / f"{name}.log",
        workers=workers,
    )


@contextmanager
def running(service: Service, ready_path: str = "/") -> Iterator[Service]:
    try:
        yield service.start(ready_path)
    finally:
        service.stop()


# -- signed requests ---------------------------------------------------------------------------

ACCESS_KEY = "test"
SECRET = "test"


def signed_request(
    port: int, operation: str, params: dict[str, Any], region: str = "us-east-1"
) -> tuple[bytes, dict[str, str]]:
    """A KMS request signed now (valid for the server's 15-minute window)."""
    body = json.dumps(params, separators=(",", ":")).encode()
    headers = sigv4_sign.sign(
        method="POST",
        host=f"127.0.0.1:{port}",
        path="/",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"TrentService.{operation}",
        },
        body=body,
        access_key_id=ACCESS_KEY,
        secret=SECRET,
        region=region,
        service="kms",
        now=time.time(),
    )
    return body, headers


def signed_post(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    service: str,
    access_key_id: str = ACCESS_KEY,
    secret: str = SECRET,
    region: str = "us-east-1",
) -> dict[str, str]:
    """The headers of a POST to 127.0.0.1:port/path signed now for `service`."""
    return sigv4_sign.sign(
        method="POST",
        host=f"127.0.0.1:{port}",
        path=path,
        headers=headers,
        body=body,
        access_key_id=access_key_id,
        secret=secret,
        region=region,
        service=service,
        now=time.time(),
    )


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# -- wrk ---------------------------------------------------------------------------------------

LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _lua_string(value: str | bytes) -> str:
    text = value.decode() if isinstance(value, bytes) else value
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def wrk_script(folder: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body)}"]
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    path = Path(tempfile.mkstemp(suffix=".lua", dir=folder)[1])
    path.write_text("\n".join(lines) + "\n" + LUA_DONE)
    return path


@dataclass
class LoadResult:
    label: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    cpu_us_per_request: float
    rss_idle_mib: list[float]
    rss_peak_mib: list[float]
    # The share of the machine's CPU time nobody used during the run, and the load average
    # after it: other sessions share these 2 cores, and figures from a busy machine and an
    # idle one are not comparable (docs/benchmarks.md, "The trivial endpoint as a reference").
    machine_idle: float = 0.0
    load_average: float = 0.0
    others_cpu_us_per_request: float = 0.0

    def row(self) -> dict[str, Any]:
        return self.__dict__.copy()


class _RssSampler(threading.Thread):
    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = [rss_mib(pid) for pid in pids]
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.peak = [max(a, rss_mib(pid)) for a, pid in zip(self.peak, self.pids, strict=True)]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def load(
    label: str,
    service: Service,
    script: Path,
    *,
    connections: int = 64,
    threads: int = 2,
    seconds: float = 8.0,
    warmup: float = 2.0,
    path: str = "/",
    others: tuple[Service, ...] = (),
) -> LoadResult:
    """wrk against the service: a warm-up run, then the measured run (CPU and RSS sampled).

    `others`: services the requests also reach (the XKS proxy behind cks); their CPU per
    request is reported apart."""
    base = ["wrk", f"-t{threads}", f"-c{connections}", "--latency", "-s", str(script)]
    url = service.url + path
    workers = service.worker_pids()
    idle = [rss_mib(pid) for pid in workers]
    if warmup:
        subprocess.run(
            [*base, f"-d{max(1, round(warmup))}s", url],
            capture_output=True,
            check=True,
            timeout=60,
        )
    sampler = _RssSampler(workers)
    sampler.start()
    cpu_before = cpu_seconds(service.pids())
    other_pids = [pid for other in others for pid in other.pids()]
    others_before = cpu_seconds(other_pids)
    machine_before = machine_times()
    done = subprocess.run(
        [*base, f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    cpu_after = cpu_seconds(service.pids())
    others_after = cpu_seconds(other_pids)
    machine_after = machine_times()
    sampler.stopped.set()
    sampler.join()
    lines = [line for line in done.stdout.splitlines() if line.startswith("WRK ")]
    if not lines:
        raise RuntimeError(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    line = lines[0]
    figures = json.loads(line[4:])
    requests = figures["requests"]
    return LoadResult(
        label=label,
        rps=requests / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        requests=requests,
        errors=figures["non2xx"] + figures["socket_errors"],
        cpu_us_per_request=(cpu_after - cpu_before) * 1e6 / max(requests, 1),
        rss_idle_mib=idle,
        rss_peak_mib=sampler.peak,
        machine_idle=_idle_share(machine_before, machine_after),
        others_cpu_us_per_request=(others_after - others_before) * 1e6 / max(requests, 1),
        load_average=load_average(),
    )


def machine_times() -> tuple[int, int]:
    """(idle, total) CPU ticks of the whole machine so far, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks[:8])  # idle + iowait; user..steal


def _idle_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    return (after[0] - before[0]) / max(after[1] - before[1], 1)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# -- summaries ---------------------------------------------------------------------------------


def medians(rows: list[LoadResult]) -> dict[str, LoadResult]:
    """Per label, the run with the median req/s (the lower middle one for an even count)."""
    labels = list(dict.fromkeys(row.label for row in rows))
    out = {}
    for label in labels:
        runs = sorted((row for row in rows if row.label == label), key=lambda row: row.rps)
        out[label] = runs[(len(runs) - 1) // 2]
    return out


def round_ratios(rows: list[LoadResult], label: str, reference: str) -> list[float]:
    """req/s of `label` over req/s of `reference`, round by round (rows are in round order)."""
    return [
        mine.rps / theirs.rps
        for mine, theirs in zip(
            [r for r in rows if r.label == label],
            [r for r in rows if r.label == reference],
            strict=True,
        )
    ]


def join(values: list[float], spec: str) -> str:
    return ", ".join(format(value, spec) for value in values)


def print_result(row: LoadResult) -> None:
    others = f" + {row.others_cpu_us_per_request:.0f}" if row.others_cpu_us_per_request else ""
    print(
        f"  {row.label:<22} {row.rps:>9.0f} req/s  p50 {row.p50_ms:6.2f}  p99 {row.p99_ms:6.2f}"
        f"  max {row.max_ms:7.2f} ms  {row.cpu_us_per_request:5.0f}{others} us CPU/req"
        f"  errors {row.errors}"
        f"  RSS MiB idle {_mib(row.rss_idle_mib)} peak {_mib(row.rss_peak_mib)}"
        f"  machine idle {row.machine_idle:.0%} load {row.load_average:.1f}",
        flush=True,
    )


def _mib(values: list[float]) -> str:
    return "/".join(f"{value:.0f}" for value in values)
