"""The key deletion job: deletes keys whose waiting period has ended (contract §5.5).

service layer. Every server process runs one on its event loop. It reads the keys that are
due, and deletes each with a statement conditional on the deletion date it read, inside a
transaction that also deletes the key's aliases and tags: of several processes exactly one
deletes a key, and a CancelKeyDeletion that landed first wins. After a CloudHSM key's row is
gone, the job makes a best-effort delete of its backing key in the cluster and logs the outcome
(an orphaned backing key is logged, the KMS key is deleted either way). An XKS or AWS_KMS key's
KMS-side material goes with the row. Deletions left by a stopped server are done when any server
runs again; until then reads treat a key past its DeletionDate as gone. Must not import
kmscks.api.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kmscks.service.key_rules import AWS_CLOUDHSM
from kmscks.service.polling import DuePoller
from kmscks.service.states import State
from kmscks.store.keys import KeyRecord, KeyTables
from kmscks.store.sql import SqlStore, StoreUnavailable

log = logging.getLogger(__name__)

_BATCH = 32

# Deletes a CloudHSM key's backing key (account, region, cluster id, key ARN), best effort;
# answers the outcome for the log.
BackingKeyRemover = Callable[[str, str, str, str], str]


class KeyDeletionWorker:
    def __init__(
        self,
        store: SqlStore,
        remove_backing_key: BackingKeyRemover,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._tables = KeyTables(store)
        self._remove_backing_key = remove_backing_key
        self._clock = clock
        self._poller = DuePoller(self._tables.next_deletion_date, poll_interval, 0.01, clock)
        self.wake = self._poller.wake
        self.stop = self._poller.stop

    async def run(self) -> None:
        while not self._poller.stopping:
            try:
                deleted = self.delete_due()
            except StoreUnavailable as error:
                log.warning("key deletion job cannot reach the store: %s", error)
                deleted = 0
            if deleted < _BATCH:
                await self._poller.sleep()

    def delete_due(self) -> int:
        """Delete the keys due now (at most one batch); answers how many were looked at."""
        due = self._tables.due_for_deletion(self._clock(), _BATCH)
        for key in due:
            self._delete(key)
        return len(due)

    def _delete(self, key: KeyRecord) -> None:
        with self._store.mutation(key.region):
            if not self._tables.delete_key(key):
                return  # cancelled meanwhile, or another process deleted it
        log.info(
            "deleted KMS key %s (origin %s) at the end of its waiting period", key.arn, key.origin
        )
        if key.origin == AWS_CLOUDHSM and key.custom_key_store_id is not None:
            self._remove_cloudhsm_key(key)

    def _remove_cloudhsm_key(self, key: KeyRecord) -> None:
        store = self._store.get(key.account_id, key.region, key.custom_key_store_id or "")
        if store is None or store.connection_state != State.CONNECTED:
            log.warning(
                "backing key of deleted KMS key %s left in its cluster (orphaned): custom key"
                " store %s is not connected",
                key.arn,
                key.custom_key_store_id,
            )
            return
        try:
            outcome = self._remove_backing_key(
                store.account_id, store.region, store.cloudhsm_cluster_id or "", key.arn
            )
        except Exception as error:  # best effort: the KMS key is deleted whatever happens here
            outcome = f"orphaned: {error}"
        level = logging.INFO if outcome.startswith(("deleted:", "absent:")) else logging.WARNING
        log.log(level, "backing key of deleted KMS key %s: %s", key.arn, outcome)
