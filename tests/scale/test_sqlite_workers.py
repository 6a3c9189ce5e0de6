"""`cks serve --workers 2` on SQLite (WAL, one connection per worker) under the same races.

Two boto3 clients, each with its own connection pool, reach the one port; the kernel spreads
their connections over both worker processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.clients import kms_client, unique_region
from tests.helpers.proxies import Behaviour, FakeProxy, wait_for
from tests.helpers.server import ServerProcess, start_cks_server
from tests.scale import races
from tests.scale.conftest import process_config

QUOTA = 30
RATE = 2  # requests per second, for the request quota's test


@pytest.fixture(scope="module")
def module_proxy() -> Iterator[FakeProxy]:
    proxy = FakeProxy(Behaviour())
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory, module_proxy: FakeProxy
) -> Iterator[ServerProcess]:
    config = process_config("", proxy_address=module_proxy.address, xks="timeout_ms = 2000")
    config = config.replace('master_key = ""', "").replace(
        "[xks]", f"[limits]\ncustom_key_stores = {QUOTA}\n\n[xks]"
    )
    server = start_cks_server(tmp_path_factory.mktemp("two-workers"), config, workers=2)
    yield server
    server.stop()


@pytest.fixture
def clients(two_workers: ServerProcess) -> list[Any]:
    region = unique_region()
    return [kms_client(two_workers.url, region) for _ in range(2)]


def test_both_workers_are_running(two_workers: ServerProcess) -> None:
    assert two_workers.process is not None
    children = Path(f"/proc/{two_workers.process.pid}/task/{two_workers.process.pid}/children")
    # The first worker may answer before the second has started.
    wait_for(lambda: len(children.read_text().split()) == 2)


def test_the_request_quota_counts_both_workers_together(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    config = f"[limits]\nrequests_per_second = {RATE}\n"
    server = start_cks_server(tmp_path_factory.mktemp("throttled-workers"), config, workers=2)
    try:
        region = unique_region()
        # Clients of their own, each with its connections: the kernel spreads those over both
        # workers, as the request log's process ids show.
        races.request_quota([kms_client(server.url, region) for _ in range(4)], RATE)
        wait_for(lambda: len(_serving_pids(server.log(), region)) == 2)
    finally:
        server.stop()


def _serving_pids(log: str, region: str) -> set[str]:
    return {
        line.split("[", 1)[1].split("]", 1)[0]
        for line in log.splitlines()
        if "kmscks.request" in line and f"region={region}" in line
    }


def test_colliding_names(clients: list[Any]) -> None:
    races.colliding_names(clients)


def test_quota(clients: list[Any]) -> None:
    races.quota(clients, limit=QUOTA)


def test_xks_uniqueness(two_workers: ServerProcess) -> None:
    # The declared VPC endpoint service is us-east-1's; no other test here uses that region.
    races.xks_uniqueness([kms_client(two_workers.url, "us-east-1") for _ in range(2)])


def test_connects_race(clients: list[Any], module_proxy: FakeProxy) -> None:
    # The proxy is shared by the module's tests: count from a clean slate.
    module_proxy.requests.clear()
    races.connect_rounds(clients, module_proxy)


def test_paged_walk(clients: list[Any]) -> None:
    races.paged_walk(clients)


def test_a_key_change_in_one_worker_holds_at_once_in_the_other(two_workers: ServerProcess) -> None:
    """Each worker keeps the keys it read between requests (SQLite) until any process writes:
    a disable, enable or scheduled deletion made through one worker holds for the very next
    request on the other. Sixteen clients, each with a connection of its own, reach both."""
    region = unique_region()
    clients = [kms_client(two_workers.url, region) for _ in range(16)]
    key_id = clients[0].create_key()["KeyMetadata"]["KeyId"]

    def encrypt_on_every_connection() -> set[str]:
        outcomes = set()
        for client in clients:
            try:
                client.encrypt(KeyId=key_id, Plaintext=b"x")
                outcomes.add("ok")
            except ClientError as error:
                outcomes.add(error.response["Error"]["Code"])
        return outcomes

    assert encrypt_on_every_connection() == {"ok"}  # read, and kept, by both workers
    # The changes go through two connections, which are likely on different workers.
    for changer in (clients[0], clients[-1]):
        changer.disable_key(KeyId=key_id)
        assert encrypt_on_every_connection() == {"DisabledException"}
        changer.enable_key(KeyId=key_id)
        assert encrypt_on_every_connection() == {"ok"}
        changer.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        assert encrypt_on_every_connection() == {"KMSInvalidStateException"}
        changer.cancel_key_deletion(KeyId=key_id)
        changer.enable_key(KeyId=key_id)
        assert encrypt_on_every_connection() == {"ok"}
    assert len(_serving_pids(two_workers.log(), region)) == 2


def test_no_worker_answers_from_a_stale_key_while_it_is_toggled(two_workers: ServerProcess) -> None:
    """Eight clients encrypt on their own connections (spread over both workers) while another
    disables and enables the key every 30 ms, for 3 s or, on a slow machine, until enough
    answers could be judged (at most 30 s). Every Encrypt sent after a toggle was acknowledged,
    and with no other toggle under way, must answer as that toggle left the key; those that
    overlap a toggle may answer either way and are not judged."""
    region = unique_region()
    key_id = kms_client(two_workers.url, region).create_key()["KeyMetadata"]["KeyId"]
    answers: list[tuple[float, float, str]] = []  # (sent, answered, outcome)
    toggles: list[tuple[float, float, str]] = []  # (sent, acknowledged, the state it set)
    stop = threading.Event()

    def encrypt_until_stop() -> None:
        client = kms_client(two_workers.url, region)
        while not stop.is_set():
            sent = time.monotonic()
            try:
                client.encrypt(KeyId=key_id, Plaintext=b"x")
                outcome = "Enabled"
            except ClientError as error:
                code = error.response["Error"]["Code"]
                outcome = "Disabled" if code == "DisabledException" else code
            answers.append((sent, time.monotonic(), outcome))

    def toggle_until_stop() -> None:
        client = kms_client(two_workers.url, region)
        state = "Enabled"
        while not stop.wait(0.03):
            sent = time.monotonic()
            state = "Disabled" if state == "Enabled" else "Enabled"
            (client.disable_key if state == "Disabled" else client.enable_key)(KeyId=key_id)
            toggles.append((sent, time.monotonic(), state))

    def judge() -> tuple[int, int]:
        """(judged, stale) over the answers so far."""
        done_toggles = list(toggles)
        judged = stale = 0
        for sent, answered, outcome in list(answers):
            if any(
                sent < t_sent < answered or t_sent <= sent < t_ack
                for t_sent, t_ack, _ in done_toggles
            ):
                continue  # a toggle under way: either answer is right
            before = [state for _, t_ack, state in done_toggles if t_ack <= sent]
            judged += 1
            stale += outcome != (before[-1] if before else "Enabled")
        return judged, stale

    threads = [threading.Thread(target=encrypt_until_stop) for _ in range(8)]
    threads.append(threading.Thread(target=toggle_until_stop))
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        time.sleep(3)
        while time.monotonic() - started < 30 and not (len(toggles) > 10 and judge()[0] > 50):
            time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    judged, stale = judge()
    assert len(toggles) > 10 and judged > 50, (len(toggles), judged)
    assert stale == 0, f"{stale} of {judged} answers came from a stale key"
    assert len(_serving_pids(two_workers.log(), region)) == 2
