"""When a background job of a server process looks for work next.

service layer; imports only the store's StoreUnavailable. The transition worker and the key
deletion job both sleep until the earliest due time the database reports, or the poll interval
(another process may have scheduled work meanwhile), whichever comes first, and wake at once
when a request of this process schedules something.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from kmscks.store.sql import StoreUnavailable


class DuePoller:
    def __init__(
        self,
        next_due: Callable[[], float | None],
        poll_interval: float,
        floor: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._next_due = next_due
        self._poll_interval = poll_interval
        # The shortest sleep, so work that keeps failing is not retried in a spin.
        self._floor = floor
        self._clock = clock
        self._wake = asyncio.Event()
        self.stopping = False

    def wake(self) -> None:
        """Work was just scheduled here: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self.stopping = True
        self._wake.set()

    async def sleep(self) -> None:
        timeout = self._poll_interval
        try:
            next_time = self._next_due()
        except StoreUnavailable:
            next_time = None
        if next_time is not None:
            timeout = min(timeout, max(self._floor, next_time - self._clock()))
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
