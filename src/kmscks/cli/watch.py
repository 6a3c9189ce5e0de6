"""`cks kms describe-custom-key-stores --watch`: follow connection states until told to stop.

Layer: cli. A cks addition, opt-in: it never changes what the command prints without --watch.
Polls DescribeCustomKeyStores (all pages, same filters) every --watch-interval seconds and prints
one line per store when first seen and one per transition, e.g.
`2026-11-28T11:00:02+00:00  cks-...  name  CONNECTING -> FAILED (XKS_PROXY_NOT_REACHABLE)`,
and a line whenever there is no store to watch (so an empty region does not look like a hang).
Ends with exit 0 when every watched store is in --until-state, or 130 on Ctrl-C.
Must not import server code.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from kmscks.cli.paginate import PageIterator

Describe = Callable[[dict[str, Any]], dict[str, Any]]
PAGINATOR = {
    "input_token": "Marker",
    "output_token": "NextMarker",
    "more_results": "Truncated",
    "limit_key": "Limit",
    "result_key": "CustomKeyStores",
}
DEFAULT_INTERVAL = 2.0


def _state(store: dict[str, Any]) -> str:
    state = str(store.get("ConnectionState", "?"))
    code = store.get("ConnectionErrorCode")
    return f"{state} ({code})" if code else state


def snapshot(call: Describe, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages = PageIterator(call, params, PAGINATOR, None, None, None)
    return list(pages.build_full_result().get("CustomKeyStores", []))


def watch(
    call: Describe,
    params: dict[str, Any],
    parsed: argparse.Namespace,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    seen: dict[str, str] = {}
    until = parsed.until_state
    interval = DEFAULT_INTERVAL if parsed.watch_interval is None else parsed.watch_interval
    was_empty = False
    while True:
        stores = snapshot(call, params)
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        for store in stores:
            key = str(store.get("CustomKeyStoreId"))
            state = _state(store)
            name = store.get("CustomKeyStoreName", "")
            if key not in seen:
                out.write(f"{now}  {key}  {name}  {state}\n")
            elif seen[key] != state:
                out.write(f"{now}  {key}  {name}  {seen[key]} -> {state}\n")
            seen[key] = state
        current = {str(store.get("CustomKeyStoreId")) for store in stores}
        for key in sorted(set(seen) - current):
            out.write(f"{now}  {key}  {seen.pop(key)} -> DELETED\n")
        if not stores and not was_empty:
            out.write(
                f"{now}  no custom key stores to watch in this account and region; "
                f"checking every {interval:g}s for new ones (Ctrl-C to stop)\n"
            )
        was_empty = not stores
        out.flush()
        if until and stores and all(store.get("ConnectionState") == until for store in stores):
            return 0
        sleep(interval)
