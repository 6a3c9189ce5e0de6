"""The key tables, one test body for SQLite and PostgreSQL: conditional state changes, the
exactly-once delete, alias-name uniqueness across connections, and the lazy deletion rule."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from kmscks.store.keys import AliasRecord, KeyRecord, KeyTables
from kmscks.store.sql import NameConflict
from tests.core.test_store import open_another  # noqa: F401 - the parametrized fixture
from tests.helpers.counting import count_calls

NOW = 1_800_000_000.0


def key(account: str = "000000000000", region: str = "us-east-1", **extra: Any) -> KeyRecord:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "account_id": account,
        "region": region,
        "origin": "AWS_KMS",
        "custom_key_store_id": None,
        "xks_key_id": None,
        "description": "",
        "requested_state": "Enabled",
        "deletion_date": None,
        "creation_date": NOW,
        "material_sealed": "v1:sealed",
        "policy": "{}",
    }
    values.update(extra)
    return KeyRecord(**values)


def inserted(store: Any, *records: KeyRecord) -> KeyTables:
    tables = KeyTables(store)
    with store.mutation("us-east-1"):
        for record in records:
            tables.insert_key(record)
    return tables


def test_keys_read_back_and_page_in_creation_order(open_another: Any) -> None:  # noqa: F811
    store = open_another()
    records = [key() for _ in range(5)]
    tables = inserted(store, *records, key(account="111122223333"), key(region="eu-west-1"))
    assert tables.key("000000000000", "us-east-1", records[0].id, NOW) == records[0]
    assert tables.key("111122223333", "us-east-1", records[0].id, NOW) is None
    first = tables.key_page("000000000000", "us-east-1", 0, 3, NOW)
    rest = tables.key_page("000000000000", "us-east-1", first[-1].seq or 0, 3, NOW)
    assert [k.id for k in first + rest] == [r.id for r in records]
    assert tables.count_keys("000000000000", "us-east-1") == 5


def test_state_changes_are_conditional(open_another: Any) -> None:  # noqa: F811
    store, other = open_another(), open_another()
    record = key()
    tables, elsewhere = inserted(store, record), KeyTables(other)
    seq = record.seq or 0
    assert tables.set_requested_state(seq, "Disabled")
    assert elsewhere.schedule_deletion(seq, NOW + 100)
    assert not tables.schedule_deletion(seq, NOW + 200)  # already scheduled
    assert not tables.set_requested_state(seq, "Enabled")  # pending deletion
    assert not tables.cancel_deletion(seq, NOW + 100, "Disabled")  # the window has ended
    assert tables.cancel_deletion(seq, NOW, "Disabled")
    assert not elsewhere.cancel_deletion(seq, NOW, "Disabled")  # nothing left to cancel
    found = tables.key("000000000000", "us-east-1", record.id, NOW)
    assert found is not None
    assert (found.requested_state, found.deletion_date) == ("Disabled", None)


def test_a_key_past_its_deletion_date_is_gone_and_deleted_once(
    open_another: Any,  # noqa: F811
) -> None:
    store, other = open_another(), open_another()
    record = key()
    tables = inserted(store, record)
    tables.put_tags(record.id, [("a", "1")])
    alias = AliasRecord("000000000000", "us-east-1", "alias/x", record.id, NOW, NOW)
    with store.mutation("us-east-1"):
        tables.insert_alias(alias)
    assert tables.schedule_deletion(record.seq or 0, NOW + 10)
    assert tables.key("000000000000", "us-east-1", record.id, NOW + 9) is not None
    assert tables.key("000000000000", "us-east-1", record.id, NOW + 10) is None
    assert tables.alias("000000000000", "us-east-1", "alias/x", NOW + 10) is None
    assert tables.key_page("000000000000", "us-east-1", 0, 10, NOW + 10) == []
    [due] = tables.due_for_deletion(NOW + 10, 10)
    assert tables.next_deletion_date() == NOW + 10
    with store.mutation("us-east-1"):
        assert tables.delete_key(due)
    with other.mutation("us-east-1"):
        assert not KeyTables(other).delete_key(due)
    assert tables.tags(record.id) == []
    assert tables.count_aliases(record.id) == 0
    assert tables.next_deletion_date() is None


def test_alias_names_are_unique_per_account_and_region(open_another: Any) -> None:  # noqa: F811
    store, other = open_another(), open_another()
    record = key()
    tables = inserted(store, record)
    with store.mutation("us-east-1"):
        tables.insert_alias(
            AliasRecord("000000000000", "us-east-1", "alias/a", record.id, NOW, NOW)
        )
    with pytest.raises(NameConflict), other.mutation("us-east-1"):
        KeyTables(other).insert_alias(
            AliasRecord("000000000000", "us-east-1", "alias/a", record.id, NOW, NOW)
        )
    with other.mutation("us-east-1"):
        KeyTables(other).insert_alias(
            AliasRecord("111122223333", "us-east-1", "alias/a", record.id, NOW, NOW)
        )


def test_keys_of_a_store_and_xks_key_ids(open_another: Any) -> None:  # noqa: F811
    store = open_another()
    records = [
        key(custom_key_store_id="cks-1", xks_key_id="ext-1", origin="EXTERNAL_KEY_STORE"),
        key(custom_key_store_id="cks-1", xks_key_id="ext-2", origin="EXTERNAL_KEY_STORE"),
        key(custom_key_store_id="cks-2", origin="AWS_CLOUDHSM", material_sealed=None),
    ]
    tables = inserted(store, *records)
    assert tables.count_store_keys("cks-1") == 2
    assert tables.count_store_keys("cks-3") == 0
    assert tables.xks_key_in_use("cks-1", "ext-1")
    assert not tables.xks_key_in_use("cks-2", "ext-1")
    # A pending deletion still holds its XksKeyId and counts for its store.
    assert tables.schedule_deletion(records[0].seq or 0, time.time() + 60)
    assert tables.xks_key_in_use("cks-1", "ext-1")
    assert tables.count_store_keys("cks-1") == 2


def test_a_cached_key_follows_every_change_made_elsewhere(open_another: Any) -> None:  # noqa: F811
    """key_and_store, which every crypto request asks, is kept between reads on SQLite until
    any connection commits a write (each store here is like another server process); on
    PostgreSQL every call reads. The deletion date is checked on every call, cached or not."""
    store, other = open_another(), open_another()
    record = key()
    tables, elsewhere = inserted(store, record), KeyTables(other)
    reads = count_calls(elsewhere, "_run")

    def state(at: float = NOW) -> str | None:
        found = elsewhere.key_and_store("000000000000", "us-east-1", record.id, at)
        return None if found is None else found[0].requested_state

    assert state() == "Enabled"
    assert state() == "Enabled"
    assert reads() == (1 if store.dialect == "sqlite" else 2)
    assert tables.set_requested_state(record.seq or 0, "Disabled")
    assert state() == "Disabled"
    assert tables.schedule_deletion(record.seq or 0, NOW + 10)
    assert state(NOW + 9) == "Disabled"
    before = reads()
    assert state(NOW + 9) == "Disabled"
    assert state(NOW + 10) is None  # past its deletion date, with no write since
    assert reads() == (before if store.dialect == "sqlite" else before + 2)


def test_a_cached_alias_follows_every_change_made_elsewhere(open_another: Any) -> None:  # noqa: F811
    """An alias (what a crypto request naming its key by alias reads) is kept like a key: until
    any connection writes on SQLite, never on PostgreSQL; its key's deletion date is checked
    on every call."""
    store, other = open_another(), open_another()
    first, second = key(), key()
    tables, elsewhere = inserted(store, first, second), KeyTables(other)
    with store.mutation("us-east-1"):
        tables.insert_alias(AliasRecord("000000000000", "us-east-1", "alias/k", first.id, NOW, NOW))
    reads = count_calls(elsewhere, "_run")

    def target(at: float = NOW) -> str | None:
        found = elsewhere.alias("000000000000", "us-east-1", "alias/k", at)
        return None if found is None else found.key_id

    assert target() == target() == first.id
    assert reads() == (1 if store.dialect == "sqlite" else 2)
    alias = tables.alias("000000000000", "us-east-1", "alias/k", NOW)
    assert alias is not None and tables.retarget_alias(alias.seq or 0, second.id, NOW)
    assert target() == second.id
    assert tables.schedule_deletion(second.seq or 0, NOW + 10)
    assert target(NOW + 9) == second.id
    assert target(NOW + 10) is None  # its key is past its deletion date, with no write since


def test_a_read_inside_a_transaction_is_not_kept(open_another: Any) -> None:  # noqa: F811
    """A transaction reads its own uncommitted writes, and its rule checks must see every
    commit before it: such reads go to the database and are not cached, so a rolled-back
    insert leaves nothing behind."""
    store = open_another()
    tables, record = KeyTables(store), key()
    with pytest.raises(RuntimeError), store.mutation("us-east-1"):
        tables.insert_key(record)
        assert tables.key_and_store("000000000000", "us-east-1", record.id, NOW) is not None
        raise RuntimeError("rolled back")
    assert tables.key_and_store("000000000000", "us-east-1", record.id, NOW) is None
