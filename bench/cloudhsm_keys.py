"""The cost of a cryptographic call in a simulated CloudHSM cluster, in-process: the connector's
whole Encrypt (32 bytes) and its parts (the one statement that keeps the database the source of
truth, the cached AES-GCM call, an unseal when the cache misses), on SQLite and, with
--postgres URL, PostgreSQL. No HTTP, so the figures are the per-call cost the KMS service adds.

    .venv/bin/python bench/cloudhsm_keys.py [--calls 3000] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kmscks.cloudhsm.admin import CloudHsmAdmin
from kmscks.cloudhsm.admin_cli import _sign_csr
from kmscks.cloudhsm.control import ControlPlane, Owner
from kmscks.cloudhsm.keys import Cluster, ClusterKeys
from kmscks.config import CloudHsmSettings
from kmscks.connectors.cloudhsm_keys import CloudHsmKeyConnector
from kmscks.service.base import Caller
from kmscks.service.secrets import Sealer
from kmscks.store.sql import PostgresStore, SqliteStore, SqlStore

ACCOUNT, REGION = "000000000000", "us-east-1"
OWNER = Owner(ACCOUNT, REGION)
ARN = "arn:aws:kms:us-east-1:000000000000:key/00000001-1111-4222-8333-444455556666"
AAD = bytes(54)


def ready_cluster(store: SqlStore, cache_size: int) -> tuple[ClusterKeys, str]:
    control = ControlPlane(store, CloudHsmSettings(transition_ms=0), Sealer(os.urandom(32)))
    keys = ClusterKeys(control, cache_size)
    admin = CloudHsmAdmin(control, keys)
    caller = Caller(
        OWNER.account_id, OWNER.region, f"arn:aws:iam::{OWNER.account_id}:root", "bench"
    )
    subnets = ["subnet-00000000000000001", "subnet-00000000000000002"]
    cluster = control.create_cluster(OWNER, "hsm2m.medium", subnets, None, "FIPS")
    control.create_hsm(OWNER, cluster.cluster_id, "us-east-1a", None)
    anchor, signed = _sign_csr(cluster.csr_pem)
    control.initialize_cluster(OWNER, cluster.cluster_id, signed, anchor)
    asyncio.run(admin.activate_cluster(caller, {"ClusterId": cluster.cluster_id}))
    control.create_hsm(OWNER, cluster.cluster_id, "us-east-1b", None)
    params = {"ClusterId": cluster.cluster_id, "Password": "kmsPswd1"}
    asyncio.run(admin.create_kms_user(caller, params))
    CloudHsmKeyConnector(keys).create_backing_key(ACCOUNT, REGION, cluster.cluster_id, ARN)
    return keys, cluster.cluster_id


def median_us(call: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def measure(name: str, store: SqlStore, calls: int) -> None:
    keys, cluster_id = ready_cluster(store, 1024)
    uncached, uncached_id = ready_cluster(store, 0)  # a cache that keeps nothing
    connector = CloudHsmKeyConnector(keys)
    uncached_connector = CloudHsmKeyConnector(uncached)
    tables = keys._tables
    cluster = Cluster(OWNER, cluster_id)
    live = tables.live_key(cluster_id, ARN)
    assert live is not None
    aead = keys._aead(live, ARN)
    rows = {
        "Encrypt via the connector (cached key)": lambda: connector.encrypt(
            ACCOUNT, REGION, cluster_id, ARN, b"x" * 32, AAD
        ),
        "Encrypt, cache off (an unseal each call)": lambda: uncached_connector.encrypt(
            ACCOUNT, REGION, uncached_id, ARN, b"x" * 32, AAD
        ),
        "  read: cluster, HSMs and key (one statement)": lambda: tables.cluster_access(
            ACCOUNT, REGION, cluster_id, ARN
        ),
        "  the same, then the checks in Python": lambda: keys._live(cluster, ARN),
        "  AES-256-GCM, 32 bytes": lambda: aead.encrypt(os.urandom(12), b"x" * 32, AAD),
    }
    print(f"\n{name}: median of {calls} calls")
    for label, call in rows.items():
        print(f"  {label:<44} {median_us(call, calls):8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty database to use")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "cks.sqlite3")
        measure("SQLite", store, args.calls)
        store.close()
    if args.postgres:
        pg = PostgresStore(args.postgres)
        measure("PostgreSQL", pg, args.calls)
        pg.close()


if __name__ == "__main__":
    main()
