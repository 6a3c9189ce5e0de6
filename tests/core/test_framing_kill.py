"""SIGKILL of the `cks serve` main process: its workers die too, the port is free at once, a
restart on the same port and data works, and nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fuzz.wire import SignedClient
from tests.helpers.clients import unique_region, xks_params
from tests.helpers.proxies import FakeProxy
from tests.helpers.server import ServerProcess, start_cks_server


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (after the parenthesised name, which may hold spaces) is the parent pid.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie no longer runs


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {seconds} s: {what}")
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")
def test_sigkill_of_the_main_process_takes_the_workers_with_it(
    tmp_path: Path, healthy_proxy: FakeProxy
) -> None:
    from tests.fuzz.conftest import proxy_config

    config = proxy_config(healthy_proxy)
    server = start_cks_server(tmp_path, config, workers=2)
    try:
        crash_and_restart(tmp_path, config, server)
    finally:
        server.kill()  # the whole process group: orphans too, should the test fail


def crash_and_restart(tmp_path: Path, config: str, server: ServerProcess) -> None:
    region = unique_region()
    client = SignedClient(server.port, region)
    created = client.call("CreateCustomKeyStore", xks_params("survives-a-crash"))
    assert created.status == 200, created.body
    client.close()
    assert server.process is not None
    main_pid = server.process.pid
    wait_for(lambda: len(children_of(main_pid)) >= 2, "two workers")
    workers = children_of(main_pid)

    os.kill(main_pid, signal.SIGKILL)  # the main process only, as a crash or OOM kill would
    server.process.wait(10)
    wait_for(lambda: all(gone(pid) for pid in workers), f"workers {workers} to die")

    # Same port, same data, at once: `cks serve` itself refuses a port that is still taken.
    restarted = start_cks_server(tmp_path, config, workers=2, port=server.port)
    try:
        client = SignedClient(restarted.port, region)
        listed = client.call("DescribeCustomKeyStores", {}).json()["CustomKeyStores"]
        assert [entry["CustomKeyStoreId"] for entry in listed] == [
            created.json()["CustomKeyStoreId"]
        ]
        client.close()
    finally:
        restarted.stop()
