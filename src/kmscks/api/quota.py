"""Request quotas: AWS's requests per second per operation, account and Region, when enabled.

api layer. KMS allows 5 requests per second for each custom key store operation, per account
and Region, and answers more with ThrottlingException (HTTP 400); botocore and the SDKs retry
it with backoff. cks enforces this only when `[limits] requests_per_second` is set
(docs/decisions.md), and the crypto quota of each custom key store the same way when `[keys]
crypto_requests_per_second` is. Each is a token bucket per scope, refilled at the rate and
holding at most one second's worth, so a burst of that many requests passes at once.

The buckets are shared (`SharedBuckets`: the database's, store/rates.py), so the quota holds for
the whole server: all of its worker processes, and every server on one PostgreSQL database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from kmscks.errors import ServiceError

THROTTLING_MESSAGE = (
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
)


class SharedBuckets(Protocol):
    """Token buckets every server process sees (kmscks.store.rates.RateBuckets)."""

    def take(self, scope: str, rate: float, now: float) -> bool: ...


class RequestQuota:
    """One quota: `per_second` requests per scope; `name` keeps its scopes apart from another
    quota's in the shared buckets."""

    def __init__(
        self,
        name: str,
        per_second: int,
        buckets: SharedBuckets,
        clock: Callable[[], float] = time.time,  # the wall clock: every process reads the same
    ) -> None:
        if per_second < 1:
            raise ValueError("a request quota allows at least one request per second")
        self._prefix = name + "/"
        self._rate = float(per_second)
        self._buckets = buckets
        self._clock = clock

    def take(self, *scope: str) -> None:
        """Count one request of `scope` (an operation, account and Region, or a store id), or
        raise ThrottlingException when its bucket is empty."""
        if not self._buckets.take(self._prefix + "/".join(scope), self._rate, self._clock()):
            raise ServiceError("ThrottlingException", THROTTLING_MESSAGE)
