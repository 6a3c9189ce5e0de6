"""Shared fixtures: a live `cks serve` per test session (per xdist worker), and helpers.

Under CI=true a missing external component fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.helpers.clients import kms_client, unique_region
from tests.helpers.proxies import Behaviour, FakeProxy
from tests.helpers.server import ServerProcess, start_cks_server

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("CKS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def require(condition: bool, what: str) -> None:
    """Skip when an external component is missing; fail instead under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} is not available")


def require_executable(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, name)
    assert path is not None
    return path


SECOND_ACCOUNT = "111122223333"
SECOND_ACCESS_KEY = "AKIDSECONDACCOUNT"
SECOND_SECRET = "second-account-secret"
# Public XKS endpoints of the shared server: each reaches a healthy plain-HTTP test proxy.
SHARED_PROXY_HOSTS = ("xks.example.test", "xks2.example.test")


@pytest.fixture(scope="session")
def healthy_proxy() -> Iterator[FakeProxy]:
    proxy = FakeProxy(Behaviour())
    yield proxy
    proxy.close()


AWS_CLI = "/usr/bin/aws"


@pytest.fixture(scope="session")
def aws_cli() -> str:
    """Debian's AWS CLI v2 (a pip-installed v1 may shadow `aws` on PATH, so the full path)."""
    import subprocess

    require(os.path.exists(AWS_CLI), f"the AWS CLI v2 at {AWS_CLI} (Debian package awscli)")
    version = subprocess.run([AWS_CLI, "--version"], capture_output=True, text=True, check=False)
    require(version.stdout.startswith("aws-cli/2"), f"aws-cli/2 (found {version.stdout!r})")
    return AWS_CLI


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, healthy_proxy: FakeProxy
) -> Iterator[ServerProcess]:
    """One server shared by the tests of this worker; tests isolate by region."""
    resolve = ", ".join(f'"{host}" = "{healthy_proxy.address}"' for host in SHARED_PROXY_HOSTS)
    config = f"""
[[credentials]]
access_key_id = "{SECOND_ACCESS_KEY}"
secret_access_key = "{SECOND_SECRET}"
account_id = "{SECOND_ACCOUNT}"

[xks]
resolve = {{ {resolve} }}
allow_http = {list(SHARED_PROXY_HOSTS)!r}
"""
    process = start_cks_server(tmp_path_factory.mktemp("shared-server"), config.replace("'", '"'))
    yield process
    process.stop()


@pytest.fixture
def region() -> str:
    return unique_region()


@pytest.fixture
def kms(server: ServerProcess, region: str) -> object:
    return kms_client(server.url, region)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            pass
    except Exception as error:  # any failure means: no usable PostgreSQL
        require(False, f"PostgreSQL at {POSTGRES_URL} ({error})")
    return POSTGRES_URL


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of its own for one test (created and dropped)."""
    import uuid

    import psycopg

    name = f"cks_test_{uuid.uuid4().hex[:12]}"
    admin = postgres_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
