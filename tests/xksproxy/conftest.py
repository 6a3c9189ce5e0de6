"""Fixtures for the XKS proxy tests (helpers live in xks_helpers.py, importable by tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.xksproxy.xks_helpers import (
    API,
    PIN,
    REGION,
    SOFTHSM_MODULE,
    BotocoreSigner,
    ProxyProcess,
    Reply,
    Signer,
    SoftHsmToken,
    TlsFiles,
    make_tls,
    make_token,
    metadata_for,
    require_softhsm,
    start_proxy,
    store_toml,
)

# -- the shared proxy: both backends side by side ------------------------------------------


@dataclass
class SharedProxy:
    proxy: ProxyProcess
    tls: TlsFiles
    token: SoftHsmToken | None

    def base(self, backend: str) -> str:
        return f"{self.proxy.url}/{backend}{API}"


@pytest.fixture(scope="session")
def shared_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedProxy]:
    """One TLS proxy per test worker with a store per backend: /software and /pkcs11."""
    directory = tmp_path_factory.mktemp("shared-proxy")
    tls = make_tls(directory)
    token: SoftHsmToken | None
    try:
        token = make_token(directory / "hsm")
    except (pytest.skip.Exception, pytest.fail.Exception):
        token = None  # pkcs11 tests skip (or fail under CI) through `require_softhsm`
    text = (
        f'[server]\nregion = "{REGION}"\ntls_cert = "server.pem"\ntls_key = "server-key.pem"\n'
        + store_toml("/software", "software")
    )
    if token is not None:
        text += store_toml("/pkcs11", "pkcs11")
        text += f'\n[pkcs11]\nmodule = "{SOFTHSM_MODULE}"\ntoken_label = "{token.label}"\n'
        text += f'pin = "{PIN}"\n'
    proxy = start_proxy(directory, text, env=token.env if token else None)
    proxy.ca = tls.ca_path
    try:
        yield SharedProxy(proxy, tls, token)
    finally:
        proxy.stop()


@pytest.fixture(params=["software", "pkcs11"])
def backend(request: pytest.FixtureRequest, shared_proxy: SharedProxy) -> str:
    if request.param == "pkcs11" and shared_proxy.token is None:
        require_softhsm()
    return str(request.param)


@pytest.fixture
def botocore_signer(shared_proxy: SharedProxy) -> Iterator[Signer]:
    signer = BotocoreSigner(str(shared_proxy.tls.ca_path))
    yield signer
    signer.close()


@pytest.fixture
def call(shared_proxy: SharedProxy, backend: str, botocore_signer: Signer) -> Callable[..., Reply]:
    """call(operation, key_id=None, **fields) against the current backend's store."""

    def run(operation: str, key_id: str | None = None, **fields: Any) -> Reply:
        path = "/health" if operation == "health" else f"/keys/{key_id}/{operation}"
        body = {"requestMetadata": metadata_for(operation), **fields}
        return botocore_signer.post(shared_proxy.base(backend) + path, body)

    return run
