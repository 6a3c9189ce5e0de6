"""Start and stop real `cks serve` processes for tests.

Each server gets its own data dir and a free port on 127.0.0.1. Unless a test's config says
otherwise, `[xks] system_dns = false`, so no test ever asks DNS about a host it did not map.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

TEST_DNS_GUARD = "system_dns = false"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_dns_guard(config_toml: str) -> str:
    if "system_dns" in config_toml:
        return config_toml
    if "[xks]" in config_toml:
        return config_toml.replace("[xks]", f"[xks]\n{TEST_DNS_GUARD}", 1)
    return config_toml + f"\n[xks]\n{TEST_DNS_GUARD}\n"


@dataclass
class ServerProcess:
    port: int
    data_dir: Path
    log_path: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # so kill() reaches granian's workers too
            env={**os.environ, **self.env},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cks serve exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_cks/health", timeout=1) as answer:
                    ready = answer.status == 200
            except OSError:
                ready = False
            # The health answer comes from one worker; each of the others serves only once it
            # listens too (granian's workers each bind the port), and the kernel spreads new
            # connections over the sockets listening when they arrive.
            if ready and _listening_sockets(self.port) >= self.workers:
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"cks serve did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then by force."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap_group()

    def kill(self) -> None:
        """SIGKILL the server and its workers at once, as a crash would."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self._reap_group()

    def _reap_group(self) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_cks_server(
    tmp_path: Path,
    config_toml: str | None = None,
    *,
    database_url: str | None = None,
    workers: int = 1,
    data_dir: Path | None = None,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
) -> ServerProcess:
    """Start `cks serve` on a free port and wait until it answers."""
    data_dir = data_dir or tmp_path / "cks-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = data_dir / "cks-test.toml"
    config_path.write_text(_with_dns_guard(config_toml or ""))
    port = port or free_port()
    args = [
        sys.executable,
        "-m",
        "kmscks",
        "serve",
        "--port",
        str(port),
        "--config",
        str(config_path),
        "--workers",
        str(workers),
    ]
    if database_url:
        args += ["--database-url", database_url, "--key-dir", str(data_dir)]
    else:
        args += ["--data-dir", str(data_dir)]
    args += list(extra_args)
    server = ServerProcess(port, data_dir, data_dir / "server.log", args, workers=workers)
    return server.start()


def _listening_sockets(port: int) -> int:
    """TCP sockets listening on the port (one per granian worker); on a system without
    /proc/net/tcp, as many as any test asks for."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        return 1 << 16
    return sum(
        1
        for line in table.read_text().splitlines()[1:]
        if (fields := line.split())[3] == "0A"  # LISTEN
        and int(fields[1].rsplit(":", 1)[1], 16) == port
    )
