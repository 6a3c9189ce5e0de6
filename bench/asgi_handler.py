"""cks's request handler served by uvicorn (raw ASGI, httptools, uvloop): a bench-only server.

A benchmark tool, not a product path. `cks serve` runs on granian's RSGI interface, where
granian's own thread does the HTTP I/O and hands each request to the Python thread and back.
Under uvicorn the Python thread does its own HTTP I/O, with no hand-off. `bench/crypto_stacks.py`
runs both on the same data to measure what the hand-offs cost each kind of request. Only what
that needs is here: the handler built as `cks serve` builds it (kmscks.runtime.build_process),
the transition worker started, the body read whole; none of the body limits of api/rsgi.py.

    python bench/asgi_handler.py --port 8003 --data-dir DIR --config FILE
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from kmscks.runtime import ServeOptions, build_process

Scope = dict[str, Any]
Receive = Any
Send = Any


class HandlerApp:
    """An ASGI app over a cks process's RequestHandler."""

    def __init__(self, data_dir: str, config_path: str) -> None:
        self._process = build_process(ServeOptions(data_dir, config_path=config_path))
        self._tasks: list[asyncio.Task[None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        status, response_headers, payload = await self._process.handler.handle(
            scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers, body
        )
        head = [(name.encode(), value.encode()) for name, value in response_headers]
        head.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Connect and Disconnect finish in the transition worker, as under cks serve.
                self._tasks.append(
                    asyncio.get_running_loop().create_task(self._process.worker.run())
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._process.worker.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    import uvicorn

    import harness

    uvicorn.run(
        HandlerApp(args.data_dir, args.config),
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        **harness.UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
