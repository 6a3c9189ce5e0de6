"""Several real `cks serve` processes on one database, sharing one master key.

Each process gets its own data dir and config (so the test can point each at a different
proxy); the shared `[server] master_key` is what lets every process open the others' sealed
secrets and accept their pagination markers.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.proxies import Behaviour, FakeProxy
from tests.helpers.server import ServerProcess, start_cks_server

XKS_HOST = "xks.example.test"
VPC_HOST = "scale.vpce.test"
VPC_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"


def process_config(
    master_key: str,
    *,
    proxy_address: str,
    server: str = "",
    xks: str = "",
) -> str:
    """A config whose public XKS host and VPC endpoint service both reach `proxy_address`."""
    return f"""
[server]
master_key = "{master_key}"
{server}

[xks]
resolve = {{ "{XKS_HOST}" = "{proxy_address}" }}
allow_http = ["{XKS_HOST}", "{VPC_HOST}"]
{xks}

[[vpc_endpoint_services]]
name = "{VPC_SERVICE}"
owner = "000000000000"
private_dns_name = "{VPC_HOST}"
address = "{proxy_address}"
"""


StartProcesses = Callable[..., list[ServerProcess]]


@pytest.fixture
def master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def counting_proxy() -> Iterator[FakeProxy]:
    proxy = FakeProxy(Behaviour())
    yield proxy
    proxy.close()


@pytest.fixture
def start_processes(tmp_path: Path) -> Iterator[StartProcesses]:
    """Start `cks serve` processes side by side; every one is stopped after the test."""
    started: list[ServerProcess] = []
    counter = iter(range(1_000))

    def start(configs: list[str], **options: Any) -> list[ServerProcess]:
        dirs = [tmp_path / f"process-{next(counter)}" for _ in configs]
        with ThreadPoolExecutor(len(configs)) as pool:
            futures = [
                pool.submit(start_cks_server, tmp_path, config, data_dir=folder, **options)
                for config, folder in zip(configs, dirs, strict=True)
            ]
            processes = []
            for future in futures:
                try:
                    processes.append(future.result())
                except Exception:
                    continue  # the others are stopped below; the test fails on the error
        started.extend(processes)
        if len(processes) != len(configs):
            raise RuntimeError("a cks serve process did not start")
        return processes

    yield start
    for process in started:
        process.stop()


def attempt(call: Callable[..., Any], **params: Any) -> str:
    """'ok' or the error code a call answered."""
    try:
        call(**params)
        return "ok"
    except ClientError as error:
        return str(error.response["Error"]["Code"])


def connect_calls(proxy: FakeProxy) -> int:
    """Health calls the proxy received for ConnectCustomKeyStore (not Create's checks)."""
    return sum(1 for body in proxy.health_calls() if _operation(body) == "ConnectCustomKeyStore")


def _operation(body: dict[str, Any]) -> object:
    metadata = body.get("requestMetadata")
    return metadata.get("kmsOperation") if isinstance(metadata, dict) else None
