"""Request quotas: AWS's requests per second per operation, account and Region, when enabled.

api layer. KMS allows 5 requests per second for each custom key store operation, per account
and Region, and answers more with ThrottlingException (HTTP 400); botocore and the SDKs retry
it with backoff. cks enforces this only when `[limits] requests_per_second` is set
(docs/decisions.md): a token bucket per (operation, account, region), refilled at that rate and
holding at most one second's worth, so a burst of that many requests passes at once. Each
process counts the requests it serves: N processes behind a load balancer allow up to N times
the rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kmscks.errors import ServiceError

THROTTLING_MESSAGE = (
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
)
# Buckets kept before the idle (full) ones are forgotten: bounds memory with many accounts.
_MAX_BUCKETS = 100_000


class RequestQuota:
    def __init__(self, per_second: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_second < 1:
            raise ValueError("a request quota allows at least one request per second")
        self._rate = float(per_second)
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}  # tokens, when

    def take(self, operation: str, account_id: str, region: str) -> None:
        """Count one request, or raise ThrottlingException when the bucket is empty."""
        now = self._clock()
        key = (operation, account_id, region)
        tokens, since = self._buckets.get(key, (self._rate, now))
        tokens = min(self._rate, tokens + (now - since) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise ServiceError("ThrottlingException", THROTTLING_MESSAGE)
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > _MAX_BUCKETS:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        # A bucket idle for a second is full again: forgetting it changes nothing.
        self._buckets = {key: value for key, value in self._buckets.items() if now - value[1] < 1.0}
