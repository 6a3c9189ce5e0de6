"""A `cks serve` with a connected external key store on the bundled `cks xks-proxy` (software
keys, TLS), for the tests of real clients and of the kill switch (tests/keys)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmscks.xksproxy import certs
from tests.helpers.clients import kms_client, unique_region
from tests.helpers.server import ServerProcess, start_cks_server
from tests.keys.conftest import settled
from tests.xksproxy.xks_helpers import AKID, SECRET, ProxyProcess, start_proxy

HOST = "xks.real-clients.test"
PREFIX = "/clients"


def _proxy_config(region: str, xks_keys: tuple[str, ...]) -> str:
    keys = "".join(
        f'\n[[stores.keys]]\nid = "{key}"\nusage = ["ENCRYPT", "DECRYPT"]\nbackend = "software"\n'
        for key in xks_keys
    )
    return f"""
[server]
region = "{region}"
tls_cert = "server.pem"
tls_key = "server-key.pem"

[software]
data_dir = "data"

[[stores]]
uri_path_prefix = "{PREFIX}"
credentials = [{{ access_key_id = "{AKID}", secret_access_key = "{SECRET}" }}]
{keys}"""


@dataclass
class XksSetup:
    """A `cks serve` whose external key store (connected) is on the bundled proxy over TLS."""

    servers: list[ServerProcess]
    proxy: ProxyProcess
    region: str
    store_id: str
    kms: Any
    proxy_config: str

    def stop_proxy(self) -> None:
        self.proxy.stop()

    def restart_proxy(self) -> None:
        """The proxy again, on the same port and with the same keys."""
        self.proxy = start_proxy(self.proxy.directory, self.proxy_config, port=self.proxy.port)

    @property
    def server(self) -> ServerProcess:
        return self.servers[0]

    def create_key(self, xks_key_id: str) -> str:
        created = self.kms.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=self.store_id, XksKeyId=xks_key_id
        )
        return str(created["KeyMetadata"]["Arn"])


@contextmanager
def bundled_xks(
    directory: Path,
    xks_keys: tuple[str, ...],
    *,
    servers: int = 1,
    database_url: str | None = None,
    keys_config: str = "",
) -> Iterator[XksSetup]:
    """The proxy, `servers` server processes (on one database when `database_url` is given)
    and a CONNECTED store made through the first; the proxy has the external keys `xks_keys`."""
    region = unique_region()
    ca = certs.new_ca("real clients CA")
    leaf = certs.issue(ca, HOST, dns_names=(HOST,))
    proxy_dir = directory / "proxy"
    proxy_dir.mkdir(parents=True)
    (proxy_dir / "ca.pem").write_bytes(ca.cert_pem())
    (proxy_dir / "server.pem").write_bytes(leaf.cert_pem())
    (proxy_dir / "server-key.pem").write_bytes(leaf.key_pem())
    proxy_config = _proxy_config(region, xks_keys)
    proxy = start_proxy(proxy_dir, proxy_config)
    config = f"""
[server]
transition_delay_ms = 20
# One master key for every process, so that each opens the others' sealed key material.
master_key = "{base64.b64encode(os.urandom(32)).decode()}"

[xks]
resolve = {{ "{HOST}" = "127.0.0.1:{proxy.port}" }}
ca_bundle = "{proxy_dir / "ca.pem"}"

[keys]
{keys_config}
"""
    setup = XksSetup([], proxy, region, "", None, proxy_config)
    try:
        for number in range(servers):
            setup.servers.append(
                start_cks_server(directory / f"server{number}", config, database_url=database_url)
            )
        setup.kms = kms_client(setup.server.url, region)
        setup.store_id = setup.kms.create_custom_key_store(
            CustomKeyStoreName="real-clients",
            CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            XksProxyUriEndpoint=f"https://{HOST}",
            XksProxyUriPath=f"{PREFIX}/kms/xks/v1",
            XksProxyAuthenticationCredential={"AccessKeyId": AKID, "RawSecretAccessKey": SECRET},
        )["CustomKeyStoreId"]
        setup.kms.connect_custom_key_store(CustomKeyStoreId=setup.store_id)
        assert settled(setup.kms, setup.store_id) == "CONNECTED"
        yield setup
    finally:
        for server in setup.servers:
            server.stop()
        setup.proxy.stop()
