"""README's walk-through "a key in your external key store" runs as written: the block after
its marker, with the store of the walk-through before it connected, the placeholders filled in
and the servers on free ports."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers.clients import kms_client
from tests.helpers.server import start_cks_server
from tests.keys.conftest import settled

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- readme-walk: external-key -->"
CKS = f"{sys.executable} -m kmscks"


def _block() -> str:
    text = README.read_text()
    start = text.index("```sh\n", text.index(MARKER)) + len("```sh\n")
    return text[start : text.index("```\n", start)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_external_key_walk_through(tmp_path: Path, aws_cli: str) -> None:
    subprocess.run(
        [*CKS.split(), "xks-proxy", "init", "xks", "--hostname", "xks.example.test"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    config = tmp_path / "xks" / "config.toml"
    proxy_port = _free_port()
    config.write_text(re.sub(r"(?m)^port = \d+$", f"port = {proxy_port}", config.read_text()))
    credentials = dict(
        re.findall(r'(access_key_id|secret_access_key) = "([^"]+)"', config.read_text())
    )
    server = start_cks_server(
        tmp_path / "server",
        f"""
[server]
transition_delay_ms = 20

[xks]
resolve = {{ "xks.example.test" = "127.0.0.1:{proxy_port}" }}
ca_bundle = "{tmp_path / "xks" / "ca.pem"}"
""",
    )
    proxy = subprocess.Popen(
        [*CKS.split(), "xks-proxy", "--config", str(config)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The walk-through before this one: the store, connected.
        kms: Any = kms_client(server.url, "us-east-1")
        _wait_listening(proxy_port)
        store_id = kms.create_custom_key_store(
            CustomKeyStoreName="my-xks",
            CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            XksProxyUriEndpoint="https://xks.example.test",
            XksProxyUriPath="/cks/store1/kms/xks/v1",
            XksProxyAuthenticationCredential={
                "AccessKeyId": credentials["access_key_id"],
                "RawSecretAccessKey": credentials["secret_access_key"],
            },
        )["CustomKeyStoreId"]
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert settled(kms, store_id) == "CONNECTED"
        proxy.terminate()
        proxy.wait(10)

        block = _block().replace("<CustomKeyStoreId>", store_id)
        block = block.replace("/path/to/cks/.venv/bin/cks", CKS)
        script = f"""
aws() {{ {aws_cli} "$@"; }}
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
E="--endpoint-url {server.url}"
trap 'kill $(jobs -p) 2>/dev/null' EXIT
{CKS} xks-proxy --config xks/config.toml 2>/dev/null &
sleep 1
{block}
"""
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        out, err = done.stdout, done.stderr
        assert "Enabled\tEXTERNAL_KEY_STORE\tcks-key-1\n" in out, (out, err)
        assert out.count("Hello from my external key\n") == 3, (out, err)
        assert "Unavailable\n" in out, (out, err)
        assert "AWS KMS cannot communicate with the external key store proxy." in err, err
        assert re.search(
            r"arn:aws:kms:us-east-1:000000000000:key/[0-9a-f-]{36} is unavailable", err
        )
    finally:
        if proxy.poll() is None:
            proxy.kill()
        server.stop()


def _wait_listening(port: int) -> None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")
