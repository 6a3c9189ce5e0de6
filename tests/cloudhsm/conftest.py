"""A server with fast CloudHSM transitions for the CloudHSM tests; each test has its own region."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cloudhsm.lab import Lab, hsm_region
from tests.helpers.server import ServerProcess, start_cks_server

CONFIG = """
[server]
transition_delay_ms = 30

[limits]
custom_key_stores = 100

[cloudhsm]
transition_ms = 40
kmsuser_max_failed_logins = 3
"""


@pytest.fixture(scope="session")
def hsm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_cks_server(tmp_path_factory.mktemp("cloudhsm-server"), CONFIG)
    yield server
    server.stop()


@pytest.fixture
def lab(hsm_server: ServerProcess) -> Lab:
    return Lab(hsm_server.url, hsm_region())
