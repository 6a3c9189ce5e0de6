"""The RSGI adapter: granian hands requests to a RequestHandler.

api layer. Chosen by measurement (docs/benchmarks.md): granian's RSGI interface has the least
overhead per request of the stacks measured. Start-up and shutdown hooks run the process's
background work (the transition worker) on granian's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kmscks.api.handler import RequestHandler


class RsgiApp:
    def __init__(
        self,
        handler: RequestHandler,
        on_start: Callable[[asyncio.AbstractEventLoop], None] = lambda loop: None,
        on_stop: Callable[[], None] = lambda: None,
    ) -> None:
        self._handler = handler
        self._on_start = on_start
        self._on_stop = on_stop

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._on_start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._on_stop()

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        body = await protocol()
        headers = scope.headers  # read in place (HeaderLookup): a dict copy costs ~10 us
        if "host" not in headers and getattr(scope, "authority", None):
            # HTTP/2 carries the host as :authority; SigV4 signs it as `host`.
            headers = {**dict(headers.items()), "host": scope.authority}
        status, response_headers, payload = await self._handler.handle(
            scope.method, scope.path, scope.query_string, headers, body
        )
        protocol.response_bytes(status, response_headers, payload)
