"""In-process cost of the request log: one signed Describe through RequestHandler.handle.

No HTTP: CPU time (time.process_time) per request, best and median of 5 x N, with the log on
(`info`, the workers' buffered stderr) or off (`warning`); then what writing one line costs
alone. stderr is where the lines go: send it to a file.

    .venv/bin/python bench/request_log_cost.py info 2>/tmp/lines.log
    .venv/bin/python bench/request_log_cost.py warning 2>/dev/null
"""

from __future__ import annotations

import asyncio
import logging.config
import shutil
import statistics
import sys
import tempfile
import time
import timeit

import harness  # bench/harness.py
from kmscks import logsetup
from kmscks.api.requestlog import RequestLog, RequestTrace
from kmscks.runtime import ServeOptions, build_process


def main() -> int:
    level = sys.argv[1] if len(sys.argv) > 1 else "info"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    logging.config.dictConfig(logsetup.dictconfig(level, "text"))
    logsetup.skip_unused_record_attributes()
    logsetup.StderrHandler.buffer()  # as in a worker (kmscks.runtime.create_app)
    folder = tempfile.mkdtemp(prefix="cks-bench-log-")
    process = build_process(ServeOptions(data_dir=folder))
    body, signed = harness.signed_request(4599, "DescribeCustomKeyStores", {})
    headers = {name.lower(): value for name, value in signed.items()}

    async def run(n: int) -> None:
        for _ in range(n):
            status, _, _ = await process.handler.handle("POST", "/", "", headers, body)
            assert status == 200, status

    loop = asyncio.new_event_loop()
    loop.run_until_complete(run(2000))
    per_request = []
    for _ in range(5):
        started = time.process_time()
        loop.run_until_complete(run(count))
        per_request.append((time.process_time() - started) / count * 1e6)
    log = RequestLog()

    def one_line() -> None:
        trace = RequestTrace("4018ba3b-9afa-4cd2-aaa3-a3ec3fd778c5")
        trace.operation, trace.account_id, trace.region = "Describe", "000000000000", "us-east-1"
        log.write(trace, headers, 200)

    line = timeit.Timer(one_line, timer=time.process_time).timeit(count) / count * 1e6
    process.store.close()
    shutil.rmtree(folder, ignore_errors=True)
    out = sys.stdout
    out.write(
        f"log level {level}: Describe {min(per_request):.1f} us best,"
        f" {statistics.median(per_request):.1f} us median; one request line alone {line:.1f} us\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
