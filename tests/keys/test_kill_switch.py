"""The kill switch, end to end: an external key store on the bundled `cks xks-proxy` (TLS,
software keys), a KMS key in it, and what happens to its ciphertexts when the proxy stops, the
store is disconnected, and the server restarts."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmscks.xksproxy import certs
from tests.helpers.clients import kms_client, unique_region
from tests.helpers.server import start_cks_server
from tests.keys.conftest import settled
from tests.xksproxy.xks_helpers import AKID, SECRET, ProxyProcess, start_proxy

HOST = "xks.kill-switch.test"
PREFIX = "/kill"
UNREACHABLE = (
    "AWS KMS cannot communicate with the external key store proxy. This might be a transient"
    " network issue. If you see this error repeatedly, verify that your external key store"
    " proxy is active and is connected to the network, and that its endpoint URI is correct in"
    " your external key store."
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proxy_config(port: int, region: str) -> str:
    return f"""
[server]
port = {port}
region = "{region}"
tls_cert = "server.pem"
tls_key = "server-key.pem"

[software]
data_dir = "data"

[[stores]]
uri_path_prefix = "{PREFIX}"
credentials = [{{ access_key_id = "{AKID}", secret_access_key = "{SECRET}" }}]

[[stores.keys]]
id = "kill-key"
usage = ["ENCRYPT", "DECRYPT"]
backend = "software"
"""


class Proxy:
    """The bundled proxy on a fixed port, so that it can be stopped and started again."""

    def __init__(self, directory: Path, region: str) -> None:
        self.directory = directory
        self.region = region
        self.port = _free_port()
        ca = certs.new_ca("kill switch CA")
        server = certs.issue(ca, HOST, dns_names=(HOST,))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.pem").write_bytes(ca.cert_pem())
        (directory / "server.pem").write_bytes(server.cert_pem())
        (directory / "server-key.pem").write_bytes(server.key_pem())
        self.process: ProxyProcess | None = None
        self.start()

    def start(self) -> None:
        self.process = start_proxy(
            self.directory, _proxy_config(self.port, self.region), port=self.port
        )

    def stop(self) -> None:
        assert self.process is not None
        self.process.stop()


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_kill_switch_of_an_external_key(tmp_path: Path) -> None:
    region = unique_region()
    proxy = Proxy(tmp_path / "proxy", region)
    config = f"""
[server]
transition_delay_ms = 20

[xks]
resolve = {{ "{HOST}" = "127.0.0.1:{proxy.port}" }}
ca_bundle = "{tmp_path / "proxy" / "ca.pem"}"
"""
    server = start_cks_server(tmp_path / "server", config)
    try:
        kms: Any = kms_client(server.url, region)
        store_id = kms.create_custom_key_store(
            CustomKeyStoreName="kill-switch",
            CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            XksProxyUriEndpoint=f"https://{HOST}",
            XksProxyUriPath=f"{PREFIX}/kms/xks/v1",
            XksProxyAuthenticationCredential={"AccessKeyId": AKID, "RawSecretAccessKey": SECRET},
        )["CustomKeyStoreId"]
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert settled(kms, store_id) == "CONNECTED"
        arn = kms.create_key(
            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="kill-key"
        )["KeyMetadata"]["Arn"]
        blob = kms.encrypt(KeyId=arn, Plaintext=b"kill switch", EncryptionContext={"a": "b"})[
            "CiphertextBlob"
        ]
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == (
            b"kill switch"
        )
        pair = kms.generate_data_key(KeyId=arn, KeySpec="AES_256")
        assert kms.decrypt(CiphertextBlob=pair["CiphertextBlob"])["Plaintext"] == pair["Plaintext"]

        # 1. The proxy stops: every call fails at once with the contract's message.
        proxy.stop()
        for call in (
            lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"}),
            lambda: kms.encrypt(KeyId=arn, Plaintext=b"x"),
        ):
            with pytest.raises(ClientError) as raised:
                call()
            assert _error(raised) == ("KMSInvalidStateException", UNREACHABLE)

        # 2. It comes back: the old ciphertext decrypts.
        proxy.start()
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == (
            b"kill switch"
        )

        # 3. The store is disconnected: the key is Unavailable at once, crypto is refused.
        kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        assert settled(kms, store_id) == "DISCONNECTED"
        assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Unavailable"
        with pytest.raises(ClientError) as raised:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
        assert _error(raised) == ("KMSInvalidStateException", f"{arn} is unavailable.")

        # 4. Reconnected: the old ciphertext decrypts again.
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert settled(kms, store_id) == "CONNECTED"
        assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == (
            b"kill switch"
        )

        # 5. Ciphertexts made before a server restart decrypt after it.
        server.stop()
        server.start()
        kms = kms_client(server.url, region)
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == (
            b"kill switch"
        )

        # 6. Re-encrypting between a standard key and the external key works both ways.
        standard = kms.create_key()["KeyMetadata"]["Arn"]
        moved = kms.re_encrypt(
            CiphertextBlob=blob,
            SourceEncryptionContext={"a": "b"},
            DestinationKeyId=standard,
        )
        back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=arn)
        assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"kill switch"
    finally:
        server.stop()
        if proxy.process is not None:
            proxy.stop()
