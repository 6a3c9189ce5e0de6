"""The trivial endpoint: a fixed response served by a given HTTP stack, for comparison.

It reads the request body and answers a fixed body (run_all.py passes the bytes of a real
DescribeCustomKeyStores page, so both sides send the same response). Whatever cks serve does
beyond this is the cost of the service itself.

For the `ceiling` section the RSGI app can also do, per request, a given amount of pure-Python
work (CKS_BENCH_BUSY_US, a busy loop that never releases the GIL) and/or read the 10-store page
Describe reads (CKS_BENCH_LISTING_DIR: a cks SQLite data directory, read with the store layer's
`listing()`), to show what each costs on this stack with nothing else around it.

    python bench/trivial_app.py --server granian --interface rsgi --port 8001 [--workers 1]
    python bench/trivial_app.py --server uvicorn --interface asgi --port 8002   # httptools+uvloop
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BODY_VARIABLE = "CKS_BENCH_BODY_FILE"
BUSY_VARIABLE = "CKS_BENCH_BUSY_US"
LISTING_VARIABLE = "CKS_BENCH_LISTING_DIR"
SKIP_BODY_VARIABLE = "CKS_BENCH_SKIP_BODY"
_DEFAULT_BODY = b'{"CustomKeyStores":[],"Truncated":false}'
_HEADERS = [("content-type", "application/x-amz-json-1.1")]
_RAW_HEADERS = [(b"content-type", b"application/x-amz-json-1.1")]


def _body() -> bytes:
    path = os.environ.get(BODY_VARIABLE)
    return Path(path).read_bytes() if path else _DEFAULT_BODY


def _extra_work() -> Callable[[], None] | None:
    """The per-request work the ceiling section asks for, or None for the plain endpoint."""
    busy = float(os.environ.get(BUSY_VARIABLE, "0")) / 1e6
    listing_dir = os.environ.get(LISTING_VARIABLE)
    if not busy and not listing_dir:
        return None
    read_page: Callable[[], object] = lambda: None  # noqa: E731
    if listing_dir:
        import seed  # bench/seed.py

        store = seed.open_bench_store(None, Path(listing_dir))
        account = seed.MEASURED_ACCOUNT
        read_page = lambda: store.listing(account, "us-east-1", 0, 11)  # noqa: E731

    def work() -> None:
        read_page()
        end = time.perf_counter() + busy
        while time.perf_counter() < end:
            pass

    return work


class RsgiApp:
    def __init__(self) -> None:
        self.body = _body()
        self.work = _extra_work()
        self.read_body = not os.environ.get(SKIP_BODY_VARIABLE)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if self.read_body:
            await protocol()
        if self.work is not None:
            self.work()
        protocol.response_bytes(200, _HEADERS, self.body)


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": _RAW_HEADERS})
    await send({"type": "http.response.body", "body": _ASGI_BODY})


_ASGI_BODY = _body()
rsgi_app = RsgiApp()


def main() -> int:
    parser = argparse.ArgumentParser(description="serve the trivial endpoint")
    parser.add_argument("--server", choices=["granian", "uvicorn"], default="granian")
    parser.add_argument("--interface", choices=["rsgi", "asgi"], default="rsgi")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    if args.server == "uvicorn":
        import uvicorn

        import harness

        uvicorn.run(
            "trivial_app:asgi_app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            lifespan="off",
            **harness.UVICORN_OPTIONS,
        )
        return 0
    from granian import Granian
    from granian.constants import Interfaces

    from kmscks.server import event_loop

    # The same options as `cks serve` (src/kmscks/server.py), its event loop included.
    Granian(
        f"trivial_app:{args.interface}_app",
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI if args.interface == "rsgi" else Interfaces.ASGI,
        workers=args.workers,
        loop=event_loop(),
        log_access=False,
    ).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
