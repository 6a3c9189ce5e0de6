"""TLS 1.2+ with the configured certificate, and mTLS that rejects missing, expired or foreign
client certificates."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kmscks.xksproxy import certs
from tests.xksproxy.xks_helpers import (
    API,
    BotocoreSigner,
    ProxyProcess,
    TlsFiles,
    make_tls,
    metadata_for,
    start_proxy,
    store_toml,
)

HEALTH = {"requestMetadata": metadata_for("health")}


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, TlsFiles, Path]]:
    directory = tmp_path_factory.mktemp("mtls")
    tls = make_tls(directory)
    clients = directory / "clients"
    clients.mkdir()
    now = dt.datetime.now(dt.UTC)
    foreign_ca = certs.new_ca("someone else's CA")
    issued = {
        "good": certs.issue(tls.ca, "cks.kms.us-east-1.amazonaws.com", client=True),
        "expired": certs.issue(
            tls.ca,
            "cks.kms.us-east-1.amazonaws.com",
            client=True,
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=1),
        ),
        "foreign": certs.issue(foreign_ca, "cks.kms.us-east-1.amazonaws.com", client=True),
        "wrongname": certs.issue(tls.ca, "someone.example.test", client=True),
        # The name in a DNS subject alternative name (in any case): the common name is not read.
        "san": certs.issue(
            tls.ca,
            "someone.example.test",
            client=True,
            dns_names=("CKS.kms.us-east-1.amazonaws.com",),
        ),
        # Subject alternative names without the name: the right common name does not count.
        "cnonly": certs.issue(
            tls.ca,
            "cks.kms.us-east-1.amazonaws.com",
            client=True,
            dns_names=("other.example.test",),
        ),
    }
    for name, cert in issued.items():
        (clients / f"{name}.pem").write_bytes(cert.cert_pem())
        (clients / f"{name}-key.pem").write_bytes(cert.key_pem())
    text = (
        '[server]\ntls_cert = "server.pem"\ntls_key = "server-key.pem"\n'
        'mtls_client_ca = "ca.pem"\nmtls_client_name = "cks.kms.us-east-1.amazonaws.com"\n'
        + store_toml("/software", "software")
    )
    proxy = start_proxy(directory, text)
    try:
        yield proxy, tls, clients
    finally:
        proxy.stop()


def _health(proxy: ProxyProcess, tls: TlsFiles, cert: tuple[str, str] | None) -> int:
    signer = BotocoreSigner(str(tls.ca_path))
    signer.session.cert = cert
    try:
        return signer.post(f"{proxy.url}/software{API}/health", HEALTH).status
    finally:
        signer.close()


@pytest.mark.parametrize("client", ["good", "san"])
def test_mtls_accepts_a_client_certificate_from_the_ca_with_the_name(mtls, client):
    proxy, tls, clients = mtls
    assert (
        _health(proxy, tls, (str(clients / f"{client}.pem"), str(clients / f"{client}-key.pem")))
        == 200
    )


@pytest.mark.parametrize("client", [None, "expired", "foreign", "wrongname", "cnonly"])
def test_mtls_rejects_missing_expired_foreign_and_misnamed_certificates(mtls, client):
    proxy, tls, clients = mtls
    cert = (str(clients / f"{client}.pem"), str(clients / f"{client}-key.pem")) if client else None
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        _health(proxy, tls, cert)
    # The proxy is still serving good clients afterwards.
    assert _health(proxy, tls, (str(clients / "good.pem"), str(clients / "good-key.pem"))) == 200


# The fatal alert OpenSSL sends for each rejected certificate, by TLS version: what nginx or
# any OpenSSL server sends, so a client learns why instead of seeing the connection drop.
_ALERTS = {
    (None, ssl.TLSVersion.TLSv1_3): "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    (None, ssl.TLSVersion.TLSv1_2): "SSLV3_ALERT_HANDSHAKE_FAILURE",
    ("expired", ssl.TLSVersion.TLSv1_3): "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    ("expired", ssl.TLSVersion.TLSv1_2): "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    ("foreign", ssl.TLSVersion.TLSv1_3): "TLSV1_ALERT_UNKNOWN_CA",
    ("foreign", ssl.TLSVersion.TLSv1_2): "TLSV1_ALERT_UNKNOWN_CA",
    # From the right CA, without the configured name (mtls_client_name): refused in the
    # handshake too, as the spec asks, not closed after it.
    ("wrongname", ssl.TLSVersion.TLSv1_3): "SSLV3_ALERT_BAD_CERTIFICATE",
    ("wrongname", ssl.TLSVersion.TLSv1_2): "SSLV3_ALERT_BAD_CERTIFICATE",
}


@pytest.mark.parametrize(("client", "version"), list(_ALERTS))
def test_a_rejected_client_certificate_gets_a_tls_alert(mtls, client, version):
    proxy, tls, clients = mtls
    context = ssl.create_default_context(cafile=str(tls.ca_path))
    context.minimum_version = context.maximum_version = version
    if client is not None:
        context.load_cert_chain(clients / f"{client}.pem", clients / f"{client}-key.pem")
    # TLS 1.2 fails in the handshake; TLS 1.3 clients finish theirs before the server checks
    # the certificate, so the alert arrives on the first read.
    with (
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as plain,
        pytest.raises(ssl.SSLError) as raised,
        context.wrap_socket(plain, server_hostname="localhost") as connection,
    ):
        connection.recv(1)
    assert raised.value.reason == _ALERTS[client, version]


def test_server_certificate_is_the_configured_one(shared_proxy):
    context = ssl.create_default_context(cafile=str(shared_proxy.tls.ca_path))
    with (
        socket.create_connection(("127.0.0.1", shared_proxy.proxy.port), timeout=5) as plain,
        context.wrap_socket(plain, server_hostname="localhost") as tls,
    ):
        served = tls.getpeercert(binary_form=True)
        assert tls.selected_alpn_protocol() in (None, "http/1.1")
    configured = ssl.PEM_cert_to_DER_cert(shared_proxy.tls.cert.read_text())
    assert served == configured


def test_tls_1_2_with_the_spec_cipher_suite(shared_proxy):
    context = ssl.create_default_context(cafile=str(shared_proxy.tls.ca_path))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    with (
        socket.create_connection(("127.0.0.1", shared_proxy.proxy.port), timeout=5) as plain,
        context.wrap_socket(plain, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()
        assert cipher is not None  # None only before the handshake
        assert cipher[0] == "ECDHE-ECDSA-AES256-GCM-SHA384"


def test_tls_1_3(shared_proxy):
    context = ssl.create_default_context(cafile=str(shared_proxy.tls.ca_path))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with (
        socket.create_connection(("127.0.0.1", shared_proxy.proxy.port), timeout=5) as plain,
        context.wrap_socket(plain, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.3"


def test_tls_below_1_2_is_refused(shared_proxy):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        # Python deprecates TLS 1.0/1.1 itself; this test needs an old client on purpose.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", shared_proxy.proxy.port), timeout=5) as plain,
        pytest.raises(ssl.SSLError),
    ):
        context.wrap_socket(plain, server_hostname="localhost").close()


def test_plain_http_without_tls_settings(tmp_path):
    proxy = start_proxy(tmp_path, store_toml("", "software"))
    try:
        assert proxy.url.startswith("http://")
        signer = BotocoreSigner()
        try:
            reply = signer.post(f"{proxy.url}{API}/health", HEALTH)
        finally:
            signer.close()
        assert reply.status == 200, json.dumps(reply.body)
    finally:
        proxy.stop()
