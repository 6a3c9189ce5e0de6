"""Commands that cks prints for the user to paste run as printed: `cks xks-proxy init`.

The printed commands are run by bash in an environment without `cks` on PATH and without any
region or endpoint setting, with a proxy guard that makes a request to anything but 127.0.0.1
fail, so a command that would go to the real AWS cannot pass.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import CKS_SCRIPT
from tests.conftest import require
from tests.helpers.server import free_port, start_cks_server


def _bare_env(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def _printed_command(text: str, first_word: str) -> str:
    """The shell command starting at `first_word`, with its backslash continuations."""
    start = text.index(first_word)
    lines = []
    for line in text[start:].splitlines():
        lines.append(line)
        if not line.endswith("\\"):
            break
    return "\n".join(lines)


def _start_proxy(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["bash", "-c", "exec " + command], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else b""
    if b"listening on" not in line:
        _stop(process)
        raise AssertionError(f"the printed proxy command did not start the proxy: {line!r}")
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    process.wait(30)
    if process.stdout is not None:
        process.stdout.close()


def test_xks_proxy_init_prints_commands_that_run_as_pasted(tmp_path: Path) -> None:
    """init -> the printed proxy command -> `cks serve` set up as the output says -> the printed
    create command: the key store is created on the local server."""
    require(CKS_SCRIPT.exists(), f"the cks console script at {CKS_SCRIPT}")
    home = tmp_path / "home"
    home.mkdir()
    env = _bare_env(home)
    proxy_port, server_port = free_port(), free_port()
    directory = tmp_path / "xks"
    init = subprocess.run(
        [str(CKS_SCRIPT), "xks-proxy", "init", str(directory), "--port", str(proxy_port),
         "--endpoint-url", f"http://127.0.0.1:{server_port}", "--region", "eu-west-1"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "aws kms" not in init.stdout
    start = _printed_command(init.stdout, str(CKS_SCRIPT) + " xks-proxy --config")
    create = _printed_command(init.stdout, str(CKS_SCRIPT) + " kms create-custom-key-store")
    assert f"--endpoint-url http://127.0.0.1:{server_port} --region eu-west-1" in create

    proxy = _start_proxy(start, env)
    server = None
    try:
        config = (
            f'[xks]\nresolve = {{ "xks.example.test" = "127.0.0.1:{proxy_port}" }}\n'
            f'ca_bundle = "{directory / "ca.pem"}"\n'
        )
        server = start_cks_server(tmp_path, config, port=server_port)
        done = subprocess.run(
            ["bash", "-c", create], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert re.search(r'"CustomKeyStoreId": "cks-[0-9a-f]{17}"', done.stdout), done.stdout
    finally:
        if server is not None:
            server.stop()
        _stop(proxy)


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"])
def test_init_takes_the_endpoint_from_the_environment(tmp_path: Path, variable: str) -> None:
    require(CKS_SCRIPT.exists(), f"the cks console script at {CKS_SCRIPT}")
    env = {**_bare_env(tmp_path), variable: "http://127.0.0.1:4700"}
    init = subprocess.run(
        [str(CKS_SCRIPT), "xks-proxy", "init", str(tmp_path / "xks")],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "--endpoint-url http://127.0.0.1:4700 --region us-east-1" in init.stdout
