"""Servers for the key tests: one with a proxy that knows external keys and fast CloudHSM
transitions, and one with a short day for deletions; a CloudHSM lab and an external key store
helper for each test's own region."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmscks.xksproxy.aead import backend_aad, integrity_value
from tests.cloudhsm.lab import Lab, hsm_region
from tests.helpers.clients import kms_client, unique_region, xks_params
from tests.helpers.proxies import HEALTHY, wait_for
from tests.helpers.server import ServerProcess, start_cks_server

XKS_HOST = "xks-keys.example.test"
_KEY_CALL = re.compile(r"/keys/([^/]+)/(metadata|encrypt|decrypt)$")


class KeyedProxy:
    """An XKS proxy on 127.0.0.1 whose external keys are named by what they are:

    `aes-...` an enabled AES_256 key for ENCRYPT and DECRYPT; `disabled-...` the same, DISABLED;
    `rsa-...` an RSA_2048 key; `signonly-...` an AES_256 key for SIGN only; anything else is
    not found. An `aes-...` key also encrypts and decrypts (AES-256-GCM under a key derived from
    its id, with the SHA_256 integrity value), so any number of external keys can be used
    without configuring them. Every request is recorded (path and JSON body).

    `down` is the kill switch: while it is set, the proxy closes every connection as soon as a
    request arrives on it, without a byte of answer (fresh and kept-alive connections alike),
    which cks reads as a proxy that is not reachable, at once (no timeout).
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.down = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                if proxy.down:
                    self.close_connection = True
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = json.loads(body or b"{}")
                proxy.requests.append((self.path, request))
                status, answer = proxy.answer(self.path, request)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def answer(path: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path.endswith("/health"):
            return 200, HEALTHY
        found = _KEY_CALL.search(path)
        key_id, call = found.groups() if found else ("", "")
        if call in ("encrypt", "decrypt") and key_id.startswith("aes-"):
            return KeyedProxy.crypto(key_id, call, request)
        usage = ["ENCRYPT", "DECRYPT"]
        if key_id.startswith("aes-"):
            return 200, {"keySpec": "AES_256", "keyUsage": usage, "keyStatus": "ENABLED"}
        if key_id.startswith("disabled-"):
            return 200, {"keySpec": "AES_256", "keyUsage": usage, "keyStatus": "DISABLED"}
        if key_id.startswith("rsa-"):
            return 200, {"keySpec": "RSA_2048", "keyUsage": usage, "keyStatus": "ENABLED"}
        if key_id.startswith("signonly-"):
            return 200, {"keySpec": "AES_256", "keyUsage": ["SIGN"], "keyStatus": "ENABLED"}
        return 404, {"errorName": "KeyNotFoundException", "errorMessage": "no such key"}

    @staticmethod
    def crypto(key_id: str, call: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        def field(name: str) -> bytes:
            return base64.b64decode(request.get(name, ""))

        def encoded(value: bytes) -> str:
            return base64.b64encode(value).decode()

        cipher = AESGCM(hashlib.sha256(b"KeyedProxy " + key_id.encode()).digest())
        aad = field("additionalAuthenticatedData")
        if call == "encrypt":
            iv = os.urandom(12)
            sealed = cipher.encrypt(iv, field("plaintext"), backend_aad(aad, b""))
            ciphertext, tag = sealed[:-16], sealed[-16:]
            return 200, {
                "ciphertext": encoded(ciphertext),
                "initializationVector": encoded(iv),
                "authenticationTag": encoded(tag),
                "ciphertextDataIntegrityValue": encoded(
                    integrity_value(aad, b"", iv, ciphertext, tag)
                ),
            }
        try:
            plaintext = cipher.decrypt(
                field("initializationVector"),
                field("ciphertext") + field("authenticationTag"),
                backend_aad(aad, b""),
            )
        except InvalidTag:
            return 400, {"errorName": "InvalidCiphertextException", "errorMessage": "bad tag"}
        return 200, {"plaintext": encoded(plaintext)}

    def metadata_calls(self, xks_key_id: str) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path.endswith(f"/{xks_key_id}/metadata")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# The test proxies answer from threads of the pytest process, which compete with the test's
# own threads (and, in CI, with other test processes): KMS's 250 ms deadline per attempt is
# missed now and then on a loaded machine, and a test that is not about timeouts would then
# see a timeout's exception. Tests about timeouts set their own deadline.
LOADED_MACHINE_XKS = "timeout_ms = 3000"


def server_config(proxy: KeyedProxy, keys: str = "", xks: str = LOADED_MACHINE_XKS) -> str:
    return f"""
[server]
transition_delay_ms = 30

[limits]
custom_key_stores = 100

[cloudhsm]
transition_ms = 40

[xks]
resolve = {{ "{XKS_HOST}" = "{proxy.address}" }}
allow_http = ["{XKS_HOST}"]
{xks}

[keys]
{keys}
"""


@pytest.fixture(scope="session")
def keyed_proxy() -> Iterator[KeyedProxy]:
    proxy = KeyedProxy()
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def keys_server(
    tmp_path_factory: pytest.TempPathFactory, keyed_proxy: KeyedProxy
) -> Iterator[ServerProcess]:
    server = start_cks_server(tmp_path_factory.mktemp("keys-server"), server_config(keyed_proxy))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def short_day_server(
    tmp_path_factory: pytest.TempPathFactory, keyed_proxy: KeyedProxy
) -> Iterator[ServerProcess]:
    """A day of 0.05 s: a 7-day window ends in 0.35 s."""
    server = start_cks_server(
        tmp_path_factory.mktemp("short-day-server"),
        server_config(keyed_proxy, "day_seconds = 0.05"),
    )
    yield server
    server.stop()


@pytest.fixture
def lab(keys_server: ServerProcess) -> Lab:
    return Lab(keys_server.url, hsm_region())


def settled(kms: Any, store_id: str) -> str:
    """Wait for a store's Connect/Disconnect to end; its ConnectionState."""

    def state() -> str | None:
        entry = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
        found = str(entry["ConnectionState"])
        return None if found in ("CONNECTING", "DISCONNECTING") else found

    return str(wait_for(state))


class ExternalStore:
    """A connected external key store on the keyed proxy, in a region of its own (or in
    `region`, beside other stores)."""

    def __init__(self, url: str, region: str | None = None) -> None:
        self.region = region or unique_region()
        self.kms = kms_client(url, self.region)
        params = xks_params("xks-keys", host=XKS_HOST, path=f"/{self.region}/kms/xks/v1")
        self.id = str(self.kms.create_custom_key_store(**params)["CustomKeyStoreId"])
        self.connect()

    def connect(self) -> None:
        self.kms.connect_custom_key_store(CustomKeyStoreId=self.id)
        assert settled(self.kms, self.id) == "CONNECTED"

    def disconnect(self) -> None:
        self.kms.disconnect_custom_key_store(CustomKeyStoreId=self.id)
        assert settled(self.kms, self.id) == "DISCONNECTED"

    def create_key(self, xks_key_id: str, **params: Any) -> dict[str, Any]:
        return dict(
            self.kms.create_key(
                Origin="EXTERNAL_KEY_STORE",
                CustomKeyStoreId=self.id,
                XksKeyId=xks_key_id,
                **params,
            )["KeyMetadata"]
        )


@pytest.fixture
def xks_store(keys_server: ServerProcess) -> ExternalStore:
    return ExternalStore(keys_server.url)
