"""Two `cks serve` processes on one PostgreSQL database answer like one.

Concurrent requests spread over both processes through boto3: names, the quota and the XKS
uniqueness rules hold; each Connect is carried out once across both processes; markers of one
are accepted by the other; a transition whose process was SIGKILLed mid-call is taken over by
the surviving process once its lease expires.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from tests.helpers.clients import connection_state, kms_client, wait_for_state, xks_params
from tests.helpers.proxies import Behaviour, FakeProxy, StallingServer, wait_for
from tests.helpers.server import ServerProcess
from tests.scale import races
from tests.scale.conftest import StartProcesses, connect_calls, process_config

pytestmark = pytest.mark.postgres

SLOW_START = "timeout_ms = 2000"  # health calls compete with the test's own threads for CPU
RATE = 2  # requests per second, for the request quota's test


@pytest.fixture
def pair(
    start_processes: StartProcesses,
    fresh_postgres: str,
    master_key: str,
    counting_proxy: FakeProxy,
) -> list[Any]:
    """A boto3 client for each of two processes sharing one database and the master key."""
    config = process_config(master_key, proxy_address=counting_proxy.address, xks=SLOW_START)
    processes = start_processes([config, config], database_url=fresh_postgres)
    return [kms_client(process.url) for process in processes]


def test_colliding_names_across_processes(pair: list[Any]) -> None:
    races.colliding_names(pair)


def test_quota_across_processes(pair: list[Any]) -> None:
    races.quota(pair)


def test_the_request_quota_counts_both_processes_together(
    start_processes: StartProcesses,
    fresh_postgres: str,
    master_key: str,
    counting_proxy: FakeProxy,
) -> None:
    config = process_config(master_key, proxy_address=counting_proxy.address)
    config += f"\n[limits]\nrequests_per_second = {RATE}\n"
    processes = start_processes([config, config], database_url=fresh_postgres)
    races.request_quota([kms_client(process.url) for process in processes], RATE)


def test_xks_uniqueness_across_processes(pair: list[Any]) -> None:
    races.xks_uniqueness(pair)


def test_each_connect_is_carried_out_once(pair: list[Any], counting_proxy: FakeProxy) -> None:
    races.connect_rounds(pair, counting_proxy)


def test_connects_and_disconnects_racing(pair: list[Any], counting_proxy: FakeProxy) -> None:
    races.connect_disconnect_chaos(pair, counting_proxy)


_AUDIT = (
    "CREATE TABLE transition_audit (seq BIGINT, generation INTEGER, state TEXT, owner TEXT)",
    "CREATE FUNCTION audit_transition() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO transition_audit VALUES"
    " (NEW.seq, NEW.transition_generation, NEW.connection_state, NEW.lease_owner);"
    " RETURN NEW; END $$",
    "CREATE TRIGGER audit_transition AFTER UPDATE ON custom_key_stores"
    " FOR EACH ROW EXECUTE FUNCTION audit_transition()",
)


def test_one_store_connects_and_disconnects_racing_are_each_carried_out_once(
    start_processes: StartProcesses,
    fresh_postgres: str,
    master_key: str,
    counting_proxy: FakeProxy,
) -> None:
    """Every CONNECTING that a process claimed made exactly one health call, and none was
    claimed twice: a trigger records each row change the processes make. Transitions start at
    once and health calls take 20 ms, so Disconnects land before, during and after claims."""
    import psycopg

    counting_proxy.behaviour = Behaviour(delay=0.02)
    config = process_config(
        master_key,
        proxy_address=counting_proxy.address,
        server="transition_delay_ms = 0",
        xks=SLOW_START,
    )
    pair = [
        kms_client(process.url)
        for process in start_processes([config, config], database_url=fresh_postgres)
    ]
    with psycopg.connect(fresh_postgres, autocommit=True) as conn:
        for statement in _AUDIT:
            conn.execute(statement)
    store_id = pair[0].create_custom_key_store(**xks_params("contested"))["CustomKeyStoreId"]
    rng = random.Random(6)
    for _ in range(8):
        requests = [
            (
                rng.choice(["connect_custom_key_store", "disconnect_custom_key_store"]),
                {"CustomKeyStoreId": store_id},
            )
            for _ in range(20)
        ]
        outcomes = races.spread(pair, requests)
        assert set(outcomes) <= {"ok", "CustomKeyStoreInvalidStateException"}, outcomes
        for client in pair:
            wait_for_state(client, store_id, "CONNECTED", "DISCONNECTED")
    with psycopg.connect(fresh_postgres, autocommit=True) as conn:
        changes = conn.execute(
            "SELECT generation, state, owner FROM transition_audit ORDER BY generation"
        ).fetchall()
    started = {generation for generation, state, owner in changes if state == "CONNECTING"}
    claims = [generation for generation, state, owner in changes if state == "CONNECTING" and owner]
    assert started, "no Connect reached CONNECTING"
    assert len(claims) == len(set(claims)), "a transition was claimed twice"
    assert set(claims) <= started
    assert connect_calls(counting_proxy) == len(claims)


def test_markers_of_one_process_are_accepted_by_the_other(
    start_processes: StartProcesses,
    fresh_postgres: str,
    master_key: str,
    counting_proxy: FakeProxy,
) -> None:
    config = process_config(
        master_key, proxy_address=counting_proxy.address, server="", xks=SLOW_START
    ).replace("[xks]", "[limits]\ncustom_key_stores = 100\n\n[xks]")
    processes = start_processes([config, config], database_url=fresh_postgres)
    races.paged_walk([kms_client(process.url) for process in processes])


def test_a_killed_process_transition_is_taken_over_after_its_lease(
    start_processes: StartProcesses, fresh_postgres: str, master_key: str
) -> None:
    lease = 3.0
    stalling = StallingServer()
    healthy = FakeProxy(Behaviour())
    try:
        # The first process's proxy never answers (and it would wait 60 s for it).
        [doomed] = start_processes(
            [
                process_config(
                    master_key,
                    proxy_address=stalling.address,
                    server=f"lease_seconds = {lease}",
                    xks="timeout_ms = 60000\nretries = 0",
                )
            ],
            database_url=fresh_postgres,
        )
        kms = kms_client(doomed.url)
        store_id = kms.create_custom_key_store(**races.vpc_params("survivor", "/kms/xks/v1"))[
            "CustomKeyStoreId"
        ]
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        wait_for(lambda: stalling._held, timeout=5)  # its worker holds the lease, mid-call
        claimed_at = time.monotonic()
        # The survivor starts while the lease is held: it must leave the transition alone.
        [survivor] = start_processes(
            [process_config(master_key, proxy_address=healthy.address, xks=SLOW_START)],
            database_url=fresh_postgres,
        )
        other = kms_client(survivor.url)
        assert connection_state(other, store_id) == "CONNECTING"
        assert healthy.health_calls() == []
        doomed.kill()
        wait_for(lambda: connection_state(other, store_id) == "CONNECTED", timeout=lease + 10)
        assert time.monotonic() - claimed_at >= lease - 0.2  # not before the lease ran out
        assert connect_calls(healthy) == 1  # taken over once, by the survivor
    finally:
        stalling.close()
        healthy.close()


def test_a_killed_process_does_not_stop_the_other(
    start_processes: StartProcesses,
    fresh_postgres: str,
    master_key: str,
    counting_proxy: FakeProxy,
) -> None:
    config = process_config(master_key, proxy_address=counting_proxy.address, xks=SLOW_START)
    first, second = start_processes([config, config], database_url=fresh_postgres)
    kms = kms_client(first.url)
    store_id = kms.create_custom_key_store(**races.vpc_params("steady", "/kms/xks/v1"))[
        "CustomKeyStoreId"
    ]
    _kill(first)
    other = kms_client(second.url)
    other.connect_custom_key_store(CustomKeyStoreId=store_id)
    wait_for(lambda: connection_state(other, store_id) == "CONNECTED")
    assert connect_calls(counting_proxy) == 1


def _kill(process: ServerProcess) -> None:
    process.kill()
    assert process.process is not None and process.process.poll() is not None
