"""A whole CloudHSM walk with the AWS CLI v2 and `cks cloudhsm`, as the README tells it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kmscks.cloudhsm.admin_cli import _sign_csr
from tests.cloudhsm.lab import SUBNETS, Cluster, Lab, hsm_region
from tests.helpers.clients import aws_cli_env
from tests.helpers.server import ServerProcess


def cks_cloudhsm(
    server: ServerProcess, region: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`cks cloudhsm ARGS` against `server` in `region`."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "kmscks",
            "cloudhsm",
            "--endpoint-url",
            server.url,
            "--region",
            region,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # `cks cloudhsm` finds credentials like `cks kms` (no silent test/test any more).
        env={**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
    )


def test_aws_cli_walk_to_a_connected_cloudhsm_store(
    aws_cli: str,
    hsm_server: ServerProcess,
    tmp_path: Path,
) -> None:
    region = hsm_region()
    env = aws_cli_env(region, tmp_path)

    def aws(*args: str) -> Any:
        result = subprocess.run(
            [aws_cli, *args, "--endpoint-url", hsm_server.url],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    def cks(*args: str) -> None:
        result = cks_cloudhsm(hsm_server, region, *args)
        assert result.returncode == 0, result.stderr

    def cluster_state(cluster_id: str) -> dict[str, Any]:
        clusters = aws("cloudhsmv2", "describe-clusters", "--filters", f"clusterIds={cluster_id}")
        return dict(clusters["Clusters"][0])

    def wait(cluster_id: str, ready: Any) -> dict[str, Any]:
        for _ in range(100):
            cluster = cluster_state(cluster_id)
            if ready(cluster):
                return cluster
            time.sleep(0.05)
        raise AssertionError(f"cluster {cluster_id} not ready: {cluster}")

    created = aws(
        "cloudhsmv2", "create-cluster", "--hsm-type", "hsm2m.medium", "--subnet-ids", *SUBNETS[:2]
    )
    cluster_id = created["Cluster"]["ClusterId"]
    wait(cluster_id, lambda c: c["State"] == "UNINITIALIZED")
    aws("cloudhsmv2", "create-hsm", "--cluster-id", cluster_id, "--availability-zone", f"{region}a")
    cluster = wait(cluster_id, lambda c: "ClusterCsr" in c["Certificates"])
    anchor, signed = _sign_csr(cluster["Certificates"]["ClusterCsr"])
    (tmp_path / "customerCA.crt").write_text(anchor)
    (tmp_path / "cluster.crt").write_text(signed)
    aws(
        "cloudhsmv2",
        "initialize-cluster",
        "--cluster-id",
        cluster_id,
        "--signed-cert",
        f"file://{tmp_path / 'cluster.crt'}",
        "--trust-anchor",
        f"file://{tmp_path / 'customerCA.crt'}",
    )
    wait(cluster_id, lambda c: c["State"] == "INITIALIZED")
    cks("activate-cluster", "--cluster-id", cluster_id)
    aws("cloudhsmv2", "create-hsm", "--cluster-id", cluster_id, "--availability-zone", f"{region}b")
    wait(cluster_id, lambda c: [h["State"] for h in c["Hsms"]] == ["ACTIVE", "ACTIVE"])
    cks("create-kms-user", "--cluster-id", cluster_id, "--password", "kmsPswd1")
    store = aws(
        "kms",
        "create-custom-key-store",
        "--custom-key-store-name",
        "ExampleCloudHSMKeyStore",
        "--cloud-hsm-cluster-id",
        cluster_id,
        "--trust-anchor-certificate",
        f"file://{tmp_path / 'customerCA.crt'}",
        "--key-store-password",
        "kmsPswd1",
    )
    store_id = store["CustomKeyStoreId"]
    aws("kms", "connect-custom-key-store", "--custom-key-store-id", store_id)
    for _ in range(100):
        entry = aws("kms", "describe-custom-key-stores", "--custom-key-store-id", store_id)[
            "CustomKeyStores"
        ][0]
        if entry["ConnectionState"] == "CONNECTED":
            break
        time.sleep(0.05)
    # As the AWS CLI documentation's example shows a CloudHSM key store.
    assert set(entry) == {
        "CustomKeyStoreId",
        "CustomKeyStoreName",
        "CloudHsmClusterId",
        "TrustAnchorCertificate",
        "ConnectionState",
        "CreationDate",
        "CustomKeyStoreType",
    }
    assert entry["ConnectionState"] == "CONNECTED"
    assert entry["TrustAnchorCertificate"] == anchor


def test_quickstart_gives_a_cluster_ready_for_a_store(
    hsm_server: ServerProcess, tmp_path: Path
) -> None:
    region = hsm_region()
    anchor_file = tmp_path / "anchor.crt"
    result = cks_cloudhsm(hsm_server, region, "quickstart", "--trust-anchor-file", str(anchor_file))
    assert result.returncode == 0, result.stderr
    printed = dict(line.split(":", 1) for line in result.stdout.splitlines()[:3])
    cluster_id = printed["ClusterId"].strip()
    password = printed["KeyStorePassword"].strip()
    assert printed["TrustAnchorCertificate"].strip() == str(anchor_file.resolve())
    lab = Lab(hsm_server.url, region)
    store_id = lab.create_store(Cluster(cluster_id, anchor_file.read_text()), password=password)
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    # Admin errors are AWS CLI-like: a message and exit code 254.
    missing = cks_cloudhsm(
        hsm_server, region, "activate-cluster", "--cluster-id", "cluster-aaaaaaaaaaa"
    )
    assert missing.returncode == 254
    assert "An error occurred (CloudHsmResourceNotFoundException)" in missing.stderr
    # Each admin command says on stderr what it did, in words (the JSON answer is on stdout).
    subnet = "subnet-00000000000000003"
    for command, said in (
        ("exhaust-subnet", "has no free IP address left (restore-subnet frees them)"),
        ("restore-subnet", "is back, with its free IP addresses"),
    ):
        done = cks_cloudhsm(hsm_server, region, command, "--subnet-id", subnet)
        assert (done.returncode, done.stderr) == (0, f"{command}: {subnet} {said}.\n")
