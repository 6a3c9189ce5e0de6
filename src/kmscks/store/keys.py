"""Persistence of KMS keys, their aliases and their tags.

store layer. Rows are plain dataclasses; queries share the SqlStore's connection, so they run
inside a region-serialized mutation (`SqlStore.mutation`) when a rule must hold (quota, alias
names, XksKeyId uniqueness, a store's keys), and as single conditional statements otherwise
(`... WHERE seq = ? AND deletion_date IS NULL`), so several processes on one database agree.
Key material arrives here already sealed by the service layer. Must not import kmscks.service,
kmscks.api or kmscks.connectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import starmap
from typing import Any

from kmscks.store.changes import ReadCache
from kmscks.store.records import COLUMNS as STORE_COLUMNS
from kmscks.store.records import StoreRecord
from kmscks.store.sql import SqlStore


@dataclass(slots=True)
class KeyRecord:
    id: str
    account_id: str
    region: str
    origin: str  # AWS_KMS | AWS_CLOUDHSM | EXTERNAL_KEY_STORE
    custom_key_store_id: str | None
    xks_key_id: str | None
    description: str
    requested_state: str  # Enabled | Disabled: what KeyState shows when nothing overrides it
    deletion_date: float | None
    creation_date: float
    # The KMS-side 256-bit AES material, sealed (AWS_KMS and XKS keys; None for CloudHSM keys,
    # whose material lives only in the cluster).
    material_sealed: str | None
    policy: str
    seq: int | None = None  # creation order; assigned by the database

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account_id}:key/{self.id}"


@dataclass(slots=True)
class AliasRecord:
    account_id: str
    region: str
    name: str  # alias/...
    key_id: str
    creation_date: float
    last_updated_date: float
    seq: int | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account_id}:{self.name}"


KEY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(KeyRecord))
_KEY_WRITABLE = tuple(name for name in KEY_COLUMNS if name != "seq")
_ALIAS_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(AliasRecord))
_ALIAS_WRITABLE = tuple(name for name in _ALIAS_COLUMNS if name != "seq")
_SELECT_KEY = f"SELECT {', '.join(KEY_COLUMNS)} FROM kms_keys"
_ALIAS_FIELDS = ", ".join("a." + c for c in _ALIAS_COLUMNS)
_SELECT_ALIAS = f"SELECT {_ALIAS_FIELDS} FROM kms_aliases a"
# A key whose deletion date has passed is gone, even before the deletion job removes its row.
_LIVE = "(deletion_date IS NULL OR deletion_date > ?)"
# A key and the custom key store it lives in (NULLs for an AWS_KMS key), read in one statement:
# every crypto request needs both, and a statement costs more than the join.
_SELECT_KEY_AND_STORE = (
    f"SELECT {', '.join('k.' + c for c in KEY_COLUMNS)},"
    f" {', '.join('s.' + c for c in STORE_COLUMNS)}"
    " FROM kms_keys k LEFT JOIN custom_key_stores s ON s.id = k.custom_key_store_id"
    " AND s.account_id = k.account_id AND s.region = k.region"
    " WHERE k.id = ? AND k.account_id = ? AND k.region = ?"
    " AND (k.deletion_date IS NULL OR k.deletion_date > ?)"
)
_KEY_WIDTH = len(KEY_COLUMNS)
# Keys (with their stores) one process keeps between requests while nothing changes (SQLite).
KEY_CACHE_SIZE = 4096


def _live(deletion_date: float | None, now: float) -> bool:
    """What `_LIVE` says in SQL of a key's deletion date: none, or one still ahead."""
    return deletion_date is None or deletion_date > now


class KeyTables:
    """Queries over the key, alias and tag tables, on a store's connection."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._found: ReadCache[tuple[str, str, str], tuple[KeyRecord, StoreRecord | None]] = (
            ReadCache(store.cache_token, KEY_CACHE_SIZE)
        )
        self._alias_found: ReadCache[tuple[str, str, str], tuple[AliasRecord, float | None]] = (
            ReadCache(store.cache_token, KEY_CACHE_SIZE)
        )

    def _run(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self._store._execute(query, params)

    def _keys(self, where: str, params: Sequence[Any]) -> list[KeyRecord]:
        return list(starmap(KeyRecord, self._run(f"{_SELECT_KEY} WHERE {where}", params)))

    # -- keys: reads ---------------------------------------------------------------------------

    def key(self, account_id: str, region: str, key_id: str, now: float) -> KeyRecord | None:
        found = self._keys(
            f"id = ? AND account_id = ? AND region = ? AND {_LIVE}",
            (key_id, account_id, region, now),
        )
        return found[0] if found else None

    def key_and_store(
        self, account_id: str, region: str, key_id: str, now: float
    ) -> tuple[KeyRecord, StoreRecord | None] | None:
        """A live key and its custom key store (None for an AWS_KMS key or a missing store).

        Every crypto request asks, so the answer is cached until any process changes the
        database (store/changes.py); whether the key is still live is checked against `now`
        on every call, cached or not."""
        found = self._found.get(
            (account_id, region, key_id),
            lambda: self._read_key_and_store(account_id, region, key_id, now),
        )
        if found is None or not _live(found[0].deletion_date, now):
            return None
        return found

    def _read_key_and_store(
        self, account_id: str, region: str, key_id: str, now: float
    ) -> tuple[KeyRecord, StoreRecord | None] | None:
        row = self._run(_SELECT_KEY_AND_STORE, (key_id, account_id, region, now)).fetchone()
        if row is None:
            return None
        key = KeyRecord(*row[:_KEY_WIDTH])
        store = StoreRecord(*row[_KEY_WIDTH:]) if row[_KEY_WIDTH] is not None else None
        return key, store

    def key_page(
        self, account_id: str, region: str, after_seq: int, limit: int, now: float
    ) -> list[KeyRecord]:
        """One account and region's live keys in creation order, after `after_seq`."""
        return self._keys(
            f"account_id = ? AND region = ? AND seq > ? AND {_LIVE} ORDER BY seq LIMIT ?",
            (account_id, region, after_seq, now, limit),
        )

    def count_keys(self, account_id: str, region: str) -> int:
        """Every key row of the account and region (pending deletion included: the quota)."""
        row = self._run(
            "SELECT COUNT(*) FROM kms_keys WHERE account_id = ? AND region = ?",
            (account_id, region),
        ).fetchone()
        return int(row[0])

    def count_store_keys(self, store_id: str) -> int:
        """Keys still in a custom key store, in any state, until their rows are deleted."""
        row = self._run(
            "SELECT COUNT(*) FROM kms_keys WHERE custom_key_store_id = ?", (store_id,)
        ).fetchone()
        return int(row[0])

    def xks_key_in_use(self, store_id: str, xks_key_id: str) -> bool:
        row = self._run(
            "SELECT 1 FROM kms_keys WHERE custom_key_store_id = ? AND xks_key_id = ?",
            (store_id, xks_key_id),
        ).fetchone()
        return row is not None

    # -- keys: writes --------------------------------------------------------------------------

    def insert_key(self, key: KeyRecord) -> None:
        cursor = self._run(
            f"INSERT INTO kms_keys ({', '.join(_KEY_WRITABLE)})"
            f" VALUES ({', '.join('?' for _ in _KEY_WRITABLE)}) RETURNING seq",
            [getattr(key, name) for name in _KEY_WRITABLE],
        )
        key.seq = int(cursor.fetchone()[0])

    def set_requested_state(self, seq: int, state: str) -> bool:
        """Enable/Disable: only a key with no scheduled deletion changes."""
        cursor = self._run(
            "UPDATE kms_keys SET requested_state = ? WHERE seq = ? AND deletion_date IS NULL",
            (state, seq),
        )
        return bool(cursor.rowcount == 1)

    def schedule_deletion(self, seq: int, deletion_date: float) -> bool:
        cursor = self._run(
            "UPDATE kms_keys SET deletion_date = ? WHERE seq = ? AND deletion_date IS NULL",
            (deletion_date, seq),
        )
        return bool(cursor.rowcount == 1)

    def cancel_deletion(self, seq: int, now: float, requested_state: str) -> bool:
        """Only a deletion still in its waiting period can be cancelled."""
        cursor = self._run(
            "UPDATE kms_keys SET deletion_date = NULL, requested_state = ?"
            " WHERE seq = ? AND deletion_date IS NOT NULL AND deletion_date > ?",
            (requested_state, seq, now),
        )
        return bool(cursor.rowcount == 1)

    def update_key(self, seq: int, now: float, changes: dict[str, Any]) -> bool:
        """Set columns (description, policy) of a key that is not past its deletion date."""
        unknown = set(changes) - {"description", "policy"}
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        cursor = self._run(
            f"UPDATE kms_keys SET {assignments} WHERE seq = ? AND {_LIVE}",
            [*changes.values(), seq, now],
        )
        return bool(cursor.rowcount == 1)

    # -- deletion ------------------------------------------------------------------------------

    def due_for_deletion(self, now: float, limit: int) -> list[KeyRecord]:
        return self._keys(
            "deletion_date IS NOT NULL AND deletion_date <= ? ORDER BY deletion_date LIMIT ?",
            (now, limit),
        )

    def next_deletion_date(self) -> float | None:
        row = self._run(
            "SELECT MIN(deletion_date) FROM kms_keys WHERE deletion_date IS NOT NULL"
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def delete_key(self, key: KeyRecord) -> bool:
        """Delete a due key with its aliases and tags; True for the one caller that did it.

        Conditional on the deletion date read, so a CancelKeyDeletion (or a new schedule) that
        landed meanwhile wins, and of several processes exactly one deletes. Run it inside a
        transaction, so the aliases and tags go with the row or not at all.
        """
        cursor = self._run(
            "DELETE FROM kms_keys WHERE seq = ? AND deletion_date = ?",
            (key.seq, key.deletion_date),
        )
        if cursor.rowcount != 1:
            return False
        self._run("DELETE FROM kms_aliases WHERE key_id = ?", (key.id,))
        self._run("DELETE FROM kms_key_tags WHERE key_id = ?", (key.id,))
        return True

    # -- aliases -------------------------------------------------------------------------------

    def alias(self, account_id: str, region: str, name: str, now: float) -> AliasRecord | None:
        """An alias whose key still exists (aliases of a key past its deletion date are gone).

        Cached like `key_and_store` (a crypto request naming its key by alias asks), with the
        key's deletion date, checked against `now` on every call."""
        found = self._alias_found.get(
            (account_id, region, name), lambda: self._read_alias(account_id, region, name, now)
        )
        if found is None or not _live(found[1], now):
            return None
        return found[0]

    def _read_alias(
        self, account_id: str, region: str, name: str, now: float
    ) -> tuple[AliasRecord, float | None] | None:
        row = self._run(
            f"SELECT {_ALIAS_FIELDS}, k.deletion_date FROM kms_aliases a"
            " JOIN kms_keys k ON k.id = a.key_id"
            " WHERE a.account_id = ? AND a.region = ? AND a.name = ?"
            " AND (k.deletion_date IS NULL OR k.deletion_date > ?)",
            (account_id, region, name, now),
        ).fetchone()
        return None if row is None else (AliasRecord(*row[:-1]), row[-1])

    def _aliases(
        self, where: str, params: Sequence[Any], now: float, limit: int = 1000
    ) -> list[AliasRecord]:
        rows = self._run(
            f"{_SELECT_ALIAS} JOIN kms_keys k ON k.id = a.key_id WHERE {where}"
            " AND (k.deletion_date IS NULL OR k.deletion_date > ?) ORDER BY a.seq LIMIT ?",
            [*params, now, limit],
        )
        return list(starmap(AliasRecord, rows))

    def alias_page(
        self,
        account_id: str,
        region: str,
        after_seq: int,
        limit: int,
        now: float,
        key_id: str | None = None,
    ) -> list[AliasRecord]:
        """Live aliases in creation order after `after_seq`, optionally of one key."""
        where = "a.account_id = ? AND a.region = ? AND a.seq > ?"
        params: list[Any] = [account_id, region, after_seq]
        if key_id is not None:
            where += " AND a.key_id = ?"
            params.append(key_id)
        return self._aliases(where, params, now, limit)

    def count_aliases(self, key_id: str) -> int:
        row = self._run("SELECT COUNT(*) FROM kms_aliases WHERE key_id = ?", (key_id,)).fetchone()
        return int(row[0])

    def insert_alias(self, alias: AliasRecord) -> None:
        """Raises NameConflict when the name is taken (the unique index decides)."""
        cursor = self._run(
            f"INSERT INTO kms_aliases ({', '.join(_ALIAS_WRITABLE)})"
            f" VALUES ({', '.join('?' for _ in _ALIAS_WRITABLE)}) RETURNING seq",
            [getattr(alias, name) for name in _ALIAS_WRITABLE],
        )
        alias.seq = int(cursor.fetchone()[0])

    def retarget_alias(self, seq: int, key_id: str, now: float) -> bool:
        cursor = self._run(
            "UPDATE kms_aliases SET key_id = ?, last_updated_date = ? WHERE seq = ?",
            (key_id, now, seq),
        )
        return bool(cursor.rowcount == 1)

    def delete_alias(self, seq: int) -> bool:
        cursor = self._run("DELETE FROM kms_aliases WHERE seq = ?", (seq,))
        return bool(cursor.rowcount == 1)

    def purge_dead_alias(self, account_id: str, region: str, name: str, now: float) -> None:
        """Remove an alias left behind by a key past its deletion date (the job has not run)."""
        self._run(
            "DELETE FROM kms_aliases WHERE account_id = ? AND region = ? AND name = ?"
            " AND key_id NOT IN (SELECT id FROM kms_keys"
            " WHERE deletion_date IS NULL OR deletion_date > ?)",
            (account_id, region, name, now),
        )

    # -- tags ----------------------------------------------------------------------------------

    def tags(self, key_id: str) -> list[tuple[str, str]]:
        rows = self._run(
            "SELECT tag_key, tag_value FROM kms_key_tags WHERE key_id = ? ORDER BY tag_key",
            (key_id,),
        ).fetchall()
        return [(str(k), str(v)) for k, v in rows]

    def put_tags(self, key_id: str, tags: Sequence[tuple[str, str]]) -> None:
        for tag_key, tag_value in tags:
            self._run(
                "INSERT INTO kms_key_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)"
                " ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                (key_id, tag_key, tag_value),
            )

    def remove_tags(self, key_id: str, tag_keys: Sequence[str]) -> None:
        for tag_key in tag_keys:
            self._run(
                "DELETE FROM kms_key_tags WHERE key_id = ? AND tag_key = ?", (key_id, tag_key)
            )
