"""End to end: `cks serve` drives a real `cks xks-proxy` over TLS with mutual authentication.

A PUBLIC_ENDPOINT external key store in `cks serve` points at the proxy through the server's
`[xks] resolve` host mapping, CA bundle and client certificate. The proxy's key lives in a
SoftHSM2 token. Connect reaches CONNECTED; a rotated proxy credential gives
INVALID_CREDENTIALS until UpdateCustomKeyStore sets it; a removed token and a stopped proxy
give XKS_PROXY_NOT_REACHABLE.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmscks.xksproxy import certs
from tests.helpers.clients import kms_client
from tests.helpers.server import ServerProcess, start_cks_server
from tests.xksproxy.xks_helpers import (
    AKID,
    AKID2,
    PIN,
    SECRET,
    SECRET2,
    SOFTHSM_MODULE,
    make_token,
    start_proxy,
)

HOST = "xks.e2e.test"
PREFIX = "/e2e/store"


def _proxy_config(credentials: list[tuple[str, str]], token_label: str) -> str:
    pairs = ", ".join(
        f'{{ access_key_id = "{a}", secret_access_key = "{s}" }}' for a, s in credentials
    )
    return f"""
[server]
tls_cert = "server.pem"
tls_key = "server-key.pem"
mtls_client_ca = "ca.pem"
mtls_client_name = "cks.kms.us-east-1.amazonaws.com"
reload_interval_seconds = 0.1

[pkcs11]
module = "{SOFTHSM_MODULE}"
token_label = "{token_label}"
pin = "{PIN}"

[[stores]]
uri_path_prefix = "{PREFIX}"
credentials = [{pairs}]

[[stores.keys]]
id = "e2e-key"
usage = ["ENCRYPT", "DECRYPT"]
backend = "pkcs11"
"""


def _certificates(proxy_dir: Path, with_client: bool) -> Path:
    """A CA, the proxy's certificate for HOST and (with_client) a client certificate for cks,
    written into `proxy_dir`."""
    proxy_dir.mkdir()
    ca = certs.new_ca("e2e CA")
    server_cert = certs.issue(ca, HOST, dns_names=(HOST,))
    files = {
        "ca.pem": ca.cert_pem(),
        "server.pem": server_cert.cert_pem(),
        "server-key.pem": server_cert.key_pem(),
    }
    if with_client:
        client_cert = certs.issue(ca, "cks.kms.us-east-1.amazonaws.com", client=True)
        files |= {"client.pem": client_cert.cert_pem(), "client-key.pem": client_cert.key_pem()}
    for name, data in files.items():
        (proxy_dir / name).write_bytes(data)
    return proxy_dir


def _cks_for(data: Path, proxy_port: int, proxy_dir: Path, with_client: bool) -> ServerProcess:
    """`cks serve` reaching HOST at the proxy's port, trusting its CA, and (with_client)
    presenting the client certificate."""
    client = (
        f'client_cert = "{proxy_dir / "client.pem"}"\n'
        f'client_key = "{proxy_dir / "client-key.pem"}"\n'
        if with_client
        else ""
    )
    config = (
        f'[xks]\nresolve = {{ "{HOST}" = "127.0.0.1:{proxy_port}" }}\n'
        f'ca_bundle = "{proxy_dir / "ca.pem"}"\n{client}timeout_ms = 2000\n'
    )
    return start_cks_server(data, config)


def _state(kms: Any, store_id: str) -> tuple[str, str | None]:
    [store] = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"]
    return store["ConnectionState"], store.get("ConnectionErrorCode")


def _connect(kms: Any, store_id: str) -> tuple[str, str | None]:
    """Connect (from DISCONNECTED) and wait for CONNECTED or FAILED."""
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = _state(kms, store_id)
        if state[0] in ("CONNECTED", "FAILED"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"store stuck in {_state(kms, store_id)}")


def _disconnect(kms: Any, store_id: str) -> None:
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    deadline = time.monotonic() + 20
    while _state(kms, store_id)[0] != "DISCONNECTED":
        assert time.monotonic() < deadline, "store did not disconnect"
        time.sleep(0.05)


def test_external_key_store_through_the_bundled_proxy(tmp_path: Path) -> None:
    token = make_token(tmp_path / "hsm", label="e2e")
    proxy_dir = _certificates(tmp_path / "proxy", with_client=True)
    proxy = start_proxy(proxy_dir, _proxy_config([(AKID, SECRET)], "e2e"), env=token.env)
    server = None
    try:
        server = _cks_for(tmp_path / "cks", proxy.port, proxy_dir, with_client=True)
        kms = kms_client(server.url, "us-east-1")
        store_id = kms.create_custom_key_store(
            CustomKeyStoreName="e2e",
            CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            XksProxyUriEndpoint=f"https://{HOST}",
            XksProxyUriPath=f"{PREFIX}/kms/xks/v1",
            XksProxyAuthenticationCredential={"AccessKeyId": AKID, "RawSecretAccessKey": SECRET},
        )["CustomKeyStoreId"]
        assert _connect(kms, store_id) == ("CONNECTED", None)

        # The proxy's credential is rotated: KMS still signs with the old one.
        _disconnect(kms, store_id)
        (proxy_dir / "config.toml").write_text(_proxy_config([(AKID2, SECRET2)], "e2e"))
        deadline = time.monotonic() + 10
        while "credentials changed" not in proxy.log():
            assert time.monotonic() < deadline, proxy.log()
            time.sleep(0.05)
        assert _connect(kms, store_id) == ("FAILED", "INVALID_CREDENTIALS")
        _disconnect(kms, store_id)
        kms.update_custom_key_store(
            CustomKeyStoreId=store_id,
            XksProxyAuthenticationCredential={"AccessKeyId": AKID2, "RawSecretAccessKey": SECRET2},
        )
        assert _connect(kms, store_id) == ("CONNECTED", None)

        # The token goes away: every EKM in the health answer is UNAVAILABLE.
        _disconnect(kms, store_id)
        token.remove()
        assert _connect(kms, store_id) == ("FAILED", "XKS_PROXY_NOT_REACHABLE")

        # The proxy stops: nothing listens any more.
        _disconnect(kms, store_id)
        proxy.stop()
        assert _connect(kms, store_id) == ("FAILED", "XKS_PROXY_NOT_REACHABLE")
    finally:
        proxy.stop()
        if server is not None:
            server.stop()


@pytest.mark.parametrize(
    ("with_client", "client_name", "alert"),
    [
        (False, "", "ALERT_CERTIFICATE_REQUIRED"),
        # us-east-1's client certificate, where the proxy wants another Region's name.
        (True, 'mtls_client_name = "cks.kms.eu-west-1.amazonaws.com"', "ALERT_BAD_CERTIFICATE"),
    ],
    ids=["no client certificate", "another name"],
)
def test_a_proxy_that_refuses_the_client_certificate_is_a_tls_failure(
    tmp_path: Path, with_client: bool, client_name: str, alert: str
) -> None:
    """cks without the client certificate the proxy's mTLS asks for, or with one of another
    name: the proxy aborts the handshake with a TLS alert, so the proxy check of
    CreateCustomKeyStore fails as KMS does on a bad TLS set-up, not as if nothing answered."""
    proxy_dir = _certificates(tmp_path / "proxy", with_client=with_client)
    config = f"""
[server]
tls_cert = "server.pem"
tls_key = "server-key.pem"
mtls_client_ca = "ca.pem"
{client_name}

[[stores]]
uri_path_prefix = "{PREFIX}"
credentials = [{{ access_key_id = "{AKID}", secret_access_key = "{SECRET}" }}]
"""
    proxy = start_proxy(proxy_dir, config)
    server = None
    try:
        server = _cks_for(tmp_path / "cks", proxy.port, proxy_dir, with_client=with_client)
        kms = kms_client(server.url, "us-east-1")
        with pytest.raises(ClientError) as raised:
            kms.create_custom_key_store(
                CustomKeyStoreName="no-client-cert",
                CustomKeyStoreType="EXTERNAL_KEY_STORE",
                XksProxyConnectivity="PUBLIC_ENDPOINT",
                XksProxyUriEndpoint=f"https://{HOST}",
                XksProxyUriPath=f"{PREFIX}/kms/xks/v1",
                XksProxyAuthenticationCredential={
                    "AccessKeyId": AKID,
                    "RawSecretAccessKey": SECRET,
                },
            )
        error = raised.value.response["Error"]
        assert error["Code"] == "XksProxyUriUnreachableException"
        assert error["Message"].startswith("AWS KMS cannot establish a TLS connection"), error
        assert alert in server.log(), server.log()[-2000:]
    finally:
        proxy.stop()
        if server is not None:
            server.stop()
