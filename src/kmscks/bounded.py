"""BoundedCache: values made once per process and kept, up to a fixed count.

bottom layer (standard library only). For values derived from something that never changes
meaning (a sealed value, a key's sealed material, fixed configuration): nothing goes stale, so
there is no expiry, only a bound; past it the oldest entry goes. Not locked: a server process
runs its requests on one event loop, and a race between threads would only make a value twice.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()


class BoundedCache(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._values: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The value kept for `key`, or `make()`'s, kept from now on (unless it raises)."""
        value = self._values.get(key, _MISSING)
        if value is _MISSING:
            value = make()
            if len(self._values) >= self.size:
                del self._values[next(iter(self._values))]  # the oldest entry
            self._values[key] = value
        return value  # type: ignore[return-value]
