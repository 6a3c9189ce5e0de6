"""On a terminal: the pager (AWS_PAGER, LESS=FRX), colour by default in tables, and the table
width from TIOCGWINSZ. Both CLIs run on a pseudo-terminal of a chosen size; the "pager" is a
shell command that saves what it receives, which is then compared between aws and cks."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from tests.cli.conftest import AWS, CKS, Runners, base_env
from tests.cli.stub_kms import StubKMS

D = "describe-custom-key-stores"


def _run_on_terminal(command: list[str], env: dict[str, str], columns: int) -> int:
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("hhhh", 40, columns, 0, 0))
    try:
        process = subprocess.Popen(
            command, env=env, stdin=terminal, stdout=terminal, stderr=terminal
        )
        os.close(terminal)
        terminal = -1
        while True:  # drain the terminal so the process never blocks on it
            try:
                if not os.read(controller, 65536):
                    break
            except OSError:
                break
        return process.wait(60)
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)


@pytest.mark.parametrize(("columns", "fmt"), [(200, "table"), (70, "table"), (100, "json")])
def test_pager_and_terminal_output_match_aws(
    columns: int, fmt: str, runners: Runners, cli_home: Path, stub_kms: StubKMS, tmp_path: Path
) -> None:
    captured = {}
    for name, program in (("aws", [AWS, "kms"]), ("cks", CKS)):
        out = tmp_path / f"{name}.out"
        pager = f"sh -c 'cat > {out}; printf %s \"$LESS\" > {out}.less'"
        env = base_env(cli_home, AWS_PAGER=pager)
        rc = _run_on_terminal(
            [*program, D, "--endpoint-url", stub_kms.url, "--output", fmt, "--max-items", "2"],
            env,
            columns,
        )
        assert rc == 0, name
        captured[name] = (out.read_bytes(), Path(f"{out}.less").read_text())
    assert captured["cks"] == captured["aws"]
    assert captured["cks"][1] == "FRX"
    if fmt == "table":
        assert b"\x1b[1m\x1b[34m" in captured["cks"][0]  # colour is on for a terminal
    assert captured["cks"][0]


def test_no_cli_pager_writes_to_the_terminal(
    cli_home: Path, stub_kms: StubKMS, tmp_path: Path
) -> None:
    marker = tmp_path / "pager-ran"
    env = base_env(cli_home, AWS_PAGER=f"sh -c 'touch {marker}; cat >/dev/null'")
    rc = _run_on_terminal([*CKS, D, "--endpoint-url", stub_kms.url, "--no-cli-pager"], env, 100)
    assert rc == 0 and not marker.exists()
