"""The store commands' help EXAMPLES run as printed against a real `cks serve`.

Only what the user's own setup decides is replaced: the server's URL, the path of `cks`, and
the cluster and store ids that the earlier examples' output gives. In order: quickstart and
create (CloudHSM), every describe example, connect, disconnect, both updates, delete.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from kmscks.cli.help_examples import ENDPOINT, EXAMPLES
from tests.cli.conftest import CKS_SCRIPT
from tests.conftest import require
from tests.helpers.server import ServerProcess


def test_store_examples_run_as_printed(plain_server: ServerProcess, tmp_path: Path) -> None:
    require(CKS_SCRIPT.exists(), f"the cks console script at {CKS_SCRIPT}")
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
        # `cks cloudhsm quickstart` in the example names no endpoint: it takes this one.
        "AWS_ENDPOINT_URL": plain_server.url,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    ids: dict[str, str] = {}

    def run(command: str) -> str:
        command = command.replace("cks kms ", f"{CKS_SCRIPT} kms ")
        command = command.replace("cks cloudhsm ", f"{CKS_SCRIPT} cloudhsm ")
        command = command.replace(ENDPOINT, plain_server.url)
        for placeholder, real in ids.items():
            command = command.replace(placeholder, real)
        done = subprocess.run(
            ["bash", "-c", command], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        return done.stdout

    quickstart, create = EXAMPLES["create-custom-key-store"][0][2].split("\n", 1)
    cluster = re.search(r"ClusterId:\s+(cluster-\w+)", run(quickstart))
    assert cluster
    ids["cluster-1a23b4cdefg"] = cluster.group(1)
    store = re.search(r'"CustomKeyStoreId": "(cks-\w+)"', run(create))
    assert store
    ids["cks-1234567890abcdef0"] = store.group(1)

    describe = EXAMPLES["describe-custom-key-stores"]
    assert store.group(1) in run(describe[0][2])
    assert "ExampleCloudHSMKeyStore" in run(describe[1][2])
    assert f"{store.group(1)}\tDISCONNECTED" in run(describe[2][2])
    connected = run(EXAMPLES["connect-custom-key-store"][0][2])
    assert connected.rstrip().endswith("CONNECTED"), connected
    assert "CONNECTED" in run(describe[3][2])
    disconnected = run(EXAMPLES["disconnect-custom-key-store"][0][2])
    assert disconnected.rstrip().endswith("DISCONNECTED"), disconnected
    for _, _, command in EXAMPLES["update-custom-key-store"]:
        assert run(command) == ""
    assert run(EXAMPLES["delete-custom-key-store"][0][2]) == ""
