"""The store layer, one test body for SQLite and PostgreSQL: schema versions, conditional
updates, leases, keyset pages and serialized rule checks across connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmscks.store import schema
from kmscks.store.records import StoreRecord
from kmscks.store.sql import NameConflict, PostgresStore, SqliteStore, SqlStore


@pytest.fixture(params=["sqlite", "postgres"])
def open_another(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A factory of connections to one fresh database (each like another server process)."""
    if request.param == "sqlite":

        def factory() -> SqlStore:
            return SqliteStore(tmp_path / "cks.sqlite3")
    else:
        url = request.getfixturevalue("fresh_postgres")

        def factory() -> SqlStore:
            return PostgresStore(url)

    opened: list[SqlStore] = []

    def tracked() -> SqlStore:
        store = factory()
        opened.append(store)
        return store

    yield tracked
    for store in opened:
        store.close()


def record(
    name: str, account: str = "000000000000", region: str = "us-east-1", **extra: Any
) -> StoreRecord:
    return StoreRecord(
        id=f"cks-{abs(hash((name, account, region))) % 16**17:017x}",
        account_id=account,
        region=region,
        name=name,
        store_type="EXTERNAL_KEY_STORE",
        connection_state="DISCONNECTED",
        creation_date=time.time(),
        **extra,
    )


def insert(store: SqlStore, *records: StoreRecord) -> None:
    with store.mutation("us-east-1") as tx:
        for item in records:
            tx.insert(item)


def test_schema_is_created_at_the_latest_version(open_another: Any) -> None:
    assert open_another().schema_version() == schema.LATEST_VERSION


def test_an_upgrade_keeps_the_data(open_another: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_another()
    insert(store, record("kept"))
    store.close()
    upgrade = schema.Migration(
        schema.LATEST_VERSION + 1,
        "a test upgrade",
        {
            "sqlite": ("ALTER TABLE custom_key_stores ADD COLUMN note TEXT",),
            "postgres": ("ALTER TABLE custom_key_stores ADD COLUMN note TEXT",),
        },
    )
    monkeypatch.setattr("kmscks.store.sql.MIGRATIONS", (*schema.MIGRATIONS, upgrade))
    upgraded = open_another()
    assert upgraded.schema_version() == schema.LATEST_VERSION + 1
    assert [r.name for r in upgraded.page("000000000000", "us-east-1", 0, 10)] == ["kept"]
    # Opening again applies nothing twice.
    assert open_another().schema_version() == schema.LATEST_VERSION + 1


def test_pages_are_keyset_ordered_and_scoped(open_another: Any) -> None:
    store = open_another()
    insert(store, *(record(f"s{i}") for i in range(5)), record("other", account="111122223333"))
    first = store.page("000000000000", "us-east-1", 0, 2)
    assert [r.name for r in first] == ["s0", "s1"]
    after = store.page("000000000000", "us-east-1", first[-1].seq, 10)
    assert [r.name for r in after] == ["s2", "s3", "s4"]
    assert [r.name for r in store.page("000000000000", "us-east-1", 0, 10, name="s3")] == ["s3"]
    assert store.page("000000000000", "eu-west-1", 0, 10) == []


def test_a_listing_is_the_same_page_without_the_hidden_columns(open_another: Any) -> None:
    store = open_another()
    insert(store, *(record(f"s{i}") for i in range(4)))
    for args in ((0, 3), (2, 10)):
        full = store.page("000000000000", "us-east-1", *args)
        listed = store.listing("000000000000", "us-east-1", *args)
        assert [(r.seq, r.id, r.name, r.connection_state) for r in listed] == [
            (r.seq, r.id, r.name, r.connection_state) for r in full
        ]
    listed = store.listing("000000000000", "us-east-1", 0, 10, name="s1")
    assert [r.name for r in listed] == ["s1"]
    assert not hasattr(listed[0], "xks_secret_sealed")


def test_a_taken_name_is_refused_by_the_database(open_another: Any) -> None:
    store = open_another()
    insert(store, record("same"))
    duplicate = record("same")
    duplicate.id = "cks-00000000000000001"
    with pytest.raises(NameConflict):
        insert(store, duplicate)
    assert len(store.page("000000000000", "us-east-1", 0, 10)) == 1


def test_transitions_are_conditional_and_leased_once(open_another: Any) -> None:
    first, second = open_another(), open_another()
    insert(first, record("t"))
    seq = first.page("000000000000", "us-east-1", 0, 1)[0].seq
    assert first.begin_transition(seq, "DISCONNECTED", "CONNECTING", due=0)
    assert not second.begin_transition(seq, "DISCONNECTED", "CONNECTING", due=0)
    now = time.time()
    claimed = first.claim_due("worker-a", now, now + 60, 10)
    assert [r.seq for r in claimed] == [seq]
    assert second.claim_due("worker-b", now, now + 60, 10) == []  # leased
    # A newer Connect/Disconnect supersedes a finish based on an older claim.
    assert second.begin_transition(seq, "CONNECTING", "DISCONNECTING", due=0)
    assert not first.finish_transition(claimed[0], "CONNECTED", None)
    # The lease of a dead worker expires and another takes the transition over.
    dead = second.claim_due("worker-dead", now, now + 0.01, 10)
    assert [r.seq for r in dead] == [seq]
    time.sleep(0.05)
    taken = first.claim_due("worker-a", time.time(), time.time() + 60, 10)
    assert [r.lease_owner for r in taken] == ["worker-a"]
    assert first.finish_transition(taken[0], "DISCONNECTED", None)
    final = first.get_by_seq(seq)
    assert final is not None
    assert (final.connection_state, final.transition_due, final.lease_owner) == (
        "DISCONNECTED",
        None,
        None,
    )
    assert first.next_transition_time() is None


def test_rule_checks_in_mutations_are_serialized_across_connections(open_another: Any) -> None:
    stores = [open_another() for _ in range(4)]
    created: list[str] = []
    lock = threading.Lock()

    def racer(store: SqlStore, index: int) -> None:
        for attempt in range(5):
            with store.mutation("us-east-1") as tx:
                count = tx.count("000000000000", "us-east-1")
                time.sleep(0.002)  # widen the window a lost update would need
                if count < 10:
                    tx.insert(record(f"r{index}-{attempt}"))
                    with lock:
                        created.append(f"r{index}-{attempt}")

    threads = [threading.Thread(target=racer, args=(store, i)) for i, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created) == 10
    assert len(stores[0].page("000000000000", "us-east-1", 0, 100)) == 10


def test_cloudhsm_tables(open_another: Any) -> None:
    from kmscks.store.clusters import BackupRow, ClusterRow, ClusterTables, HsmRow, SubnetState

    store = open_another()
    tables = ClusterTables(store)
    cluster = ClusterRow(
        cluster_id="cluster-abcdefghijk",
        account_id="000000000000",
        region="us-east-1",
        hsm_type="hsm2m.medium",
        mode="FIPS",
        state="ACTIVE",
        state_since=1.0,
        create_timestamp=1.0,
        subnet_mapping='{"us-east-1a": "subnet-00000000000000001"}',
        vpc_id="vpc-1",
        security_group="sg-1",
        security_group_ok=1,
        network_ok=1,
        source_backup_id=None,
        lineage="cluster-abcdefghijk",
        private_key_pem="k",
        csr_pem="c",
    )
    tables.insert_cluster(cluster)
    tables.update_cluster(cluster.cluster_id, {"kmsuser_failures": 2, "kmsuser_hash": "h"})
    found = tables.cluster("000000000000", "us-east-1", cluster.cluster_id)
    assert found is not None and (found.kmsuser_failures, found.kmsuser_hash) == (2, "h")
    assert tables.cluster("111122223333", "us-east-1", cluster.cluster_id) is None
    tables.insert_hsm(
        HsmRow(
            "hsm-abcdefghijk",
            cluster.cluster_id,
            "us-east-1a",
            "subnet-00000000000000001",
            "eni-1",
            "10.0.1.4",
            "hsm2m.medium",
            "ACTIVE",
            1.0,
        )
    )
    tables.update_hsm("hsm-abcdefghijk", {"state": "DELETE_IN_PROGRESS"})
    assert [h.state for h in tables.hsms(cluster.cluster_id)] == ["DELETE_IN_PROGRESS"]
    tables.insert_backup(
        BackupRow(
            "backup-abcdefghijk",
            "000000000000",
            "us-east-1",
            cluster.cluster_id,
            cluster.lineage,
            "hsm2m.medium",
            "FIPS",
            2.0,
            "k",
            "c",
            None,
            None,
            None,
            None,
        )
    )
    assert [b.backup_id for b in tables.backups("000000000000", "us-east-1")] == [
        "backup-abcdefghijk"
    ]
    subnet = ("000000000000", "us-east-1", "subnet-00000000000000001")
    assert tables.subnet_state(*subnet) == SubnetState()
    tables.save_subnet_state(*subnet, SubnetState(used_addresses=3))
    tables.save_subnet_state(*subnet, SubnetState(deleted=True, used_addresses=4))
    assert tables.subnet_state(*subnet) == SubnetState(deleted=True, used_addresses=4)


def test_the_uniqueness_queries(open_another: Any) -> None:
    store = open_another()
    public = record(
        "public",
        xks_connectivity="PUBLIC_ENDPOINT",
        xks_uri_endpoint="https://Proxy.example",
        xks_uri_path="/kms/xks/v1",
    )
    vpc = record(
        "vpc",
        account="111122223333",
        xks_connectivity="VPC_ENDPOINT_SERVICE",
        xks_uri_endpoint="https://private.example",
        xks_uri_path="/kms/xks/v1",
        xks_vpc_service_name="com.amazonaws.vpce.us-east-1.vpce-svc-1",
    )
    hsm = record("hsm", cloudhsm_cluster_id="cluster-234567abcdef")  # the type is not looked at
    insert(store, public, vpc, hsm)
    seq = public.seq or 0
    with store.mutation("us-east-1") as tx:
        assert tx.name_taken("000000000000", "us-east-1", "public", 0)
        assert not tx.name_taken("000000000000", "us-east-1", "public", seq)  # itself
        assert not tx.name_taken("000000000000", "us-east-1", "Public", 0)  # case-sensitive
        assert not tx.name_taken("111122223333", "us-east-1", "public", 0)
        assert tx.proxy_uri_taken(
            "000000000000", "us-east-1", "https://proxy.EXAMPLE", "/kms/xks/v1", 0
        )
        assert not tx.proxy_uri_taken("000000000000", "us-east-1", "https://proxy.example", "/x", 0)
        assert not tx.proxy_uri_taken(
            "000000000000", "us-east-1", "https://proxy.example", "/kms/xks/v1", seq
        )
        # Any account of the Region; optionally only stores of one connectivity.
        assert tx.proxy_endpoint_taken("us-east-1", "https://PRIVATE.example", 0)
        assert tx.proxy_endpoint_taken(
            "us-east-1", "https://private.example", 0, "VPC_ENDPOINT_SERVICE"
        )
        assert not tx.proxy_endpoint_taken(
            "us-east-1", "https://proxy.example", 0, "VPC_ENDPOINT_SERVICE"
        )
        assert not tx.proxy_endpoint_taken("eu-west-1", "https://proxy.example", 0)
        assert tx.vpc_service_taken("us-east-1", "com.amazonaws.vpce.us-east-1.vpce-svc-1", 0)
        assert not tx.vpc_service_taken("us-east-1", "com.amazonaws.vpce.us-east-1.vpce-svc-2", 0)
        found = tx.store_on_clusters(
            "000000000000", "us-east-1", ["cluster-x", "cluster-234567abcdef"], 0
        )
        assert found is not None and found.id == hsm.id
        assert (
            tx.store_on_clusters(
                "000000000000", "us-east-1", ["cluster-234567abcdef"], hsm.seq or 0
            )
            is None
        )
        assert tx.store_on_clusters("000000000000", "us-east-1", [], 0) is None
