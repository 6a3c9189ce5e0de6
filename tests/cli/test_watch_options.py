"""--watch says when there is nothing to watch; --until-state and --watch-interval need --watch."""

from __future__ import annotations

import io
import select
import signal
import subprocess
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from kmscks.cli.watch import watch
from tests.cli.conftest import CKS, base_env
from tests.helpers.server import ServerProcess

D = "describe-custom-key-stores"


@pytest.mark.parametrize(
    "option", [["--until-state", "CONNECTED"], ["--watch-interval", "1"]], ids=lambda o: o[0]
)
def test_watch_options_without_watch_are_a_parameter_error(cks: Any, option: list[str]) -> None:
    result = cks([D, "--endpoint-url", "http://127.0.0.1:9", *option])
    assert result.rc == 252 and result.stdout == b""
    assert result.stderr == f"\n{option[0]} can only be used with --watch\n".encode()


def test_watch_says_when_there_is_nothing_to_watch() -> None:
    answers = iter([[], [], [{"CustomKeyStoreId": "cks-1", "ConnectionState": "CONNECTED"}]])

    def describe(params: dict[str, Any]) -> dict[str, Any]:
        return {"CustomKeyStores": next(answers), "Truncated": False}

    out = io.StringIO()
    options = Namespace(until_state="CONNECTED", watch_interval=None)
    assert watch(describe, {}, options, out, sleep=lambda seconds: None) == 0
    lines = [line.split("  ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "no custom key stores to watch in this account and region; checking every 2s for new "
        "ones (Ctrl-C to stop)",
        "cks-1    CONNECTED",
    ]


def test_watch_on_an_empty_region_of_a_real_server(
    plain_server: ServerProcess, tmp_path: Path
) -> None:
    env = base_env(tmp_path, AWS_DEFAULT_REGION="ap-southeast-4")
    process = subprocess.Popen(
        [*CKS, D, "--endpoint-url", plain_server.url, "--watch", "--watch-interval", "0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline().decode() if ready else ""
        assert "no custom key stores to watch in this account and region" in line
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 130


def test_the_watch_interval_must_be_positive(cks: Any) -> None:
    result = cks([D, "--endpoint-url", "http://127.0.0.1:9", "--watch", "--watch-interval", "0"])
    assert result.rc == 252
    assert result.stderr == b"\n--watch-interval must be more than 0 seconds: 0.0\n"
