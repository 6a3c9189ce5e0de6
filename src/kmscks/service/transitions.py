"""The transition worker: carries out Connect and Disconnect after they have answered `{}`.

service layer. Every server process runs one. It claims due CONNECTING/DISCONNECTING stores
through the database with a lease (a conditional update, so exactly one process takes each),
works out where each ends, and finishes it with a conditional update that also checks the
transition generation, so a late finish never overwrites a newer Connect or Disconnect. A
transition whose process died is claimed again once its lease expires; one left by a stopped
server is claimed when any server starts. Nothing stays CONNECTING forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kmscks.service.polling import DuePoller
from kmscks.service.states import State
from kmscks.store.attempts import AttemptRow, ConnectionAttempts
from kmscks.store.records import StoreRecord
from kmscks.store.sql import SqlStore, StoreUnavailable, Transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttemptDetail:
    """What a connection attempt found, in words (kept for explain-connection-error).

    `cause` is concrete ("TCP connection refused by 127.0.0.1:9443") and never holds a secret.
    """

    cause: str
    proxy_latency_ms: float | None = None
    proxy_health: str | None = None


@dataclass
class TransitionResult:
    """Where a transition ends; `changes` and `after` are written in the same transaction."""

    state: State
    error_code: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    after: Callable[[Transaction], None] | None = None
    detail: AttemptDetail | None = None


Finisher = Callable[[StoreRecord], Awaitable[TransitionResult]]

_CLAIM_BATCH = 32
_MAX_IN_FLIGHT = 256


class TransitionWorker:
    def __init__(
        self,
        store: SqlStore,
        finish: Finisher,
        lease_seconds: float,
        poll_interval: float = 0.25,
        attempts: ConnectionAttempts | None = None,
    ) -> None:
        self._store = store
        self._attempts = attempts
        self._finish = finish
        self._lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._in_flight: set[asyncio.Task[None]] = set()
        self._poller = DuePoller(store.next_transition_time, poll_interval)
        self.wake = self._poller.wake
        self.stop = self._poller.stop

    async def run(self) -> None:
        while not self._poller.stopping:
            try:
                claimed = self._claim()
            except StoreUnavailable as error:
                log.warning("transition worker cannot reach the store: %s", error)
                claimed = []
            for record in claimed:
                task = asyncio.create_task(self._carry_out(record))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if claimed:
                continue
            await self._poller.sleep()
        for task in list(self._in_flight):
            task.cancel()

    def _claim(self) -> list[StoreRecord]:
        room = _MAX_IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return []
        now = time.time()
        return self._store.claim_due(
            self.owner, now, now + self._lease_seconds, min(room, _CLAIM_BATCH)
        )

    async def _carry_out(self, record: StoreRecord) -> None:
        started = time.time()
        try:
            result = await self._finish(record)
        except Exception:
            log.exception("transition of %s failed", record.id)
            result = TransitionResult(
                State.FAILED,
                "INTERNAL_ERROR",
                detail=AttemptDetail("an internal error of cks (its log has the traceback)"),
            )
        if result.state == State.FAILED and record.connection_state == State.DISCONNECTING:
            result = TransitionResult(State.DISCONNECTED)
        after = result.after
        if self._attempts is not None and record.connection_state == State.CONNECTING:
            after = self._recording(record, started, result)
        try:
            finished = self._store.finish_transition(
                record, result.state, result.error_code, result.changes, after
            )
            if not finished:
                log.info("transition of %s was superseded", record.id)
        except StoreUnavailable as error:
            # The lease expires and another claim finishes it.
            log.warning("cannot finish the transition of %s: %s", record.id, error)

    def _recording(
        self, record: StoreRecord, started: float, result: TransitionResult
    ) -> Callable[[Transaction], None]:
        """`result.after`, then the attempt's row: both only if the finish is written."""
        assert self._attempts is not None
        attempts = self._attempts
        detail = result.detail or AttemptDetail(
            "connected" if result.state == State.CONNECTED else "no details recorded"
        )
        row = AttemptRow(
            store_id=record.id,
            attempted_at=round(started, 3),
            connection_state=str(result.state),
            error_code=result.error_code,
            cause=detail.cause,
            proxy_latency_ms=detail.proxy_latency_ms,
            proxy_health=detail.proxy_health,
        )
        first = result.after

        def after(tx: Transaction) -> None:
            if first is not None:
                first(tx)
            attempts.record(row)

        return after
