"""README's walk-throughs run as written, the way a user runs them, with the AWS CLI v2: the
block "an external key store, connected" and then the block "a key in your external key
store", in one bash session and one folder; and the block "a CloudHSM key store, connected" on
its own. Only what a user would fill in or could not have is changed: the path to cks, free
ports instead of 9443 and 4599, and the placeholders (`<AccessKeyId>` and
`<RawSecretAccessKey>` as `init` wrote them, the `<CustomKeyStoreId>` that
create-custom-key-store printed)."""

from __future__ import annotations

import itertools
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers.server import start_cks_server

README = Path(__file__).resolve().parents[2] / "README.md"
CKS = f"{sys.executable} -m kmscks"


def _block(marker: str) -> str:
    text = README.read_text()
    start = text.index("```sh\n", text.index(f"<!-- readme-walk: {marker} -->")) + len("```sh\n")
    return text[start : text.index("```\n", start)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_run_here(block: str, proxy_port: int, server_port: int) -> str:
    for written, here in (
        ("/path/to/cks/.venv/bin/cks", CKS),
        (
            "xks-proxy --config xks/config.toml",
            f"xks-proxy --config xks/config.toml --port {proxy_port}",
        ),
        ('"127.0.0.1:9443"', f'"127.0.0.1:{proxy_port}"'),
        (
            "serve --config cks.toml --data-dir data",
            f"serve --config cks.toml --data-dir data --port {server_port}",
        ),
        ("http://127.0.0.1:4599", f"http://127.0.0.1:{server_port}"),
        ("<AccessKeyId>", "$(from_init access_key_id)"),
        ("<RawSecretAccessKey>", "$(from_init secret_access_key)"),
        ("<CustomKeyStoreId>", "$(the_store_id)"),
    ):
        block = block.replace(written, here)
    return block


def _expected_errors(block: str) -> list[str]:
    """The error lines the README shows after `#` (each after a line with `#` alone)."""
    lines = block.splitlines()
    return [
        line.removeprefix("# ")
        for before, line in itertools.pairwise(lines)
        if before == "#" and line.startswith("# An error occurred")
    ]


def test_the_external_key_store_walk_throughs(tmp_path: Path, aws_cli: str) -> None:
    store_block, key_block = _block("external-store"), _block("external-key")
    proxy_port, server_port = _free_port(), _free_port()
    script = f"""
aws() {{ {aws_cli} "$@"; }}
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
from_init() {{ sed -n "s/.*[{{ ]$1 = \\"\\([^\\"]*\\)\\".*/\\1/p" xks/config.toml | head -1; }}
the_store_id() {{
  aws kms describe-custom-key-stores $E --query 'CustomKeyStores[0].CustomKeyStoreId' --output text
}}
trap 'kill $(jobs -p) 2>/dev/null' EXIT
{_as_run_here(store_block, proxy_port, server_port)}
echo "=== the second walk-through"
{_as_run_here(key_block, proxy_port, server_port)}
"""
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    out, err = done.stdout, done.stderr
    first, _, second = out.partition("=== the second walk-through\n")
    assert second, (out, err)
    # Walk-through 1: CONNECTED, then FAILED once the proxy is gone.
    assert '"ConnectionState": "CONNECTED"' in first, (out, err)
    assert first.endswith("FAILED\tXKS_PROXY_NOT_REACHABLE\n"), (out, err)
    # Walk-through 2, step by step.
    assert "Enabled\tEXTERNAL_KEY_STORE\tcks-key-1\n" in second, (out, err)
    assert second.count("Hello from my external key\n") == 3, (out, err)
    assert "Unavailable\n" in second, (out, err)
    cut_off, unavailable = _expected_errors(key_block)
    assert f"\n{cut_off}\n" in err, err
    pattern = re.escape(unavailable).replace(re.escape("<KeyId>"), "[0-9a-f-]{36}")
    assert re.search(f"\n{pattern}\n", err), err
    assert "no such job" not in err and "Traceback" not in err, err
    assert done.returncode == 0, (out, err)


def test_the_cloudhsm_key_store_walk_through(tmp_path: Path, aws_cli: str) -> None:
    server = start_cks_server(tmp_path / "server")  # `make run`'s server: no configuration
    # The block keeps the path in a variable (`CKS=...`): the installed console script.
    console_script = Path(sys.executable).with_name("cks")
    assert console_script.exists(), console_script
    block = _block("cloudhsm-store").replace("/path/to/cks/.venv/bin/cks", str(console_script))
    block = block.replace("http://127.0.0.1:4599", server.url)
    script = f"""
aws() {{ {aws_cli} "$@"; }}
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_ENDPOINT_URL={server.url}   # where `cks cloudhsm` finds the server when not on 4599
{block}
"""
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=240
        )
    finally:
        server.stop()
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, (out, err)
    assert out.rstrip().endswith("}"), (out, err)
    assert '"ConnectionState": "CONNECTED"' in out.rsplit('"CustomKeyStores"', 1)[-1], (out, err)
    assert "Traceback" not in err and "error" not in err.lower(), err
