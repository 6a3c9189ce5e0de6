"""`cks serve` refuses what it cannot serve with a message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmscks", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[xks]\ntimeout = 5\n", "unknown setting(s) in [xks]: timeout"),
        ("[nonsense]\n", "unknown section(s)"),
        ("garbage = [", "is not valid TOML"),
        ("[xks]\ntimeout_ms = 'fast'\n", "xks.timeout_ms must be of type int"),
        (
            "[[credentials]]\naccess_key_id='A'\nsecret_access_key='s'\naccount_id='12'\n",
            "12 digits",
        ),
        ("[server]\nmaster_key = 'c2hvcnQ='\n", "32 bytes"),
    ],
)
def test_bad_config_files(tmp_path: Path, config: str, message: str) -> None:
    path = tmp_path / "cks.toml"
    path.write_text(config)
    result = serve("--config", str(path), "--data-dir", str(tmp_path / "data"), "--port", "1")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_databases_and_options(tmp_path: Path) -> None:
    for args, message in (
        (("--database-url", "mysql://x"), "use postgresql://"),
        (("--database-url", "postgresql://postgres@127.0.0.1:1/x"), "cannot connect to PostgreSQL"),
        (("--config", str(tmp_path / "missing.toml")), "cannot read config file"),
        (("--workers", "0"), "--workers must be at least 1"),
    ):
        result = serve(*args, "--key-dir", str(tmp_path / "keys"))
        assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
        assert message in result.stderr


def test_a_taken_port_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    result = serve("--port", str(server.port), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{server.port}" in result.stderr
