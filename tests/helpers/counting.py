"""Counting the calls an object makes to one of its methods, for tests of what is cached."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def count_calls(owner: Any, method: str) -> Callable[[], int]:
    """Wrap `owner.method` (on this instance only) and return how many calls it has had since."""
    calls = 0
    original = getattr(owner, method)

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    setattr(owner, method, counted)
    return lambda: calls
