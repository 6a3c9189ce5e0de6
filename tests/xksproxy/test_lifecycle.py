"""The proxy as an operator runs it: credential rotation without a restart, a token that goes
away, software keys that survive a restart, and bad configs that fail cleanly."""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests.xksproxy.xks_helpers import (
    AKID,
    AKID2,
    API,
    PIN,
    SECRET,
    SECRET2,
    SOFTHSM_MODULE,
    BotocoreSigner,
    ProxyProcess,
    Reply,
    b64,
    make_tls,
    make_token,
    metadata_for,
    require_tool,
    start_proxy,
    store_toml,
)

HEALTH = {"requestMetadata": metadata_for("health")}


def _encrypt_request(plaintext: bytes, **extra: str) -> dict[str, object]:
    """The body of a proxy encrypt request for `plaintext` (AES_GCM)."""
    return {
        "requestMetadata": metadata_for("encrypt"),
        "plaintext": b64(plaintext),
        "encryptionAlgorithm": "AES_GCM",
        **extra,
    }


def _health(proxy: ProxyProcess, prefix: str = "", akid: str = AKID, secret: str = SECRET) -> Reply:
    signer = BotocoreSigner()
    try:
        return signer.post(f"{proxy.url}{prefix}{API}/health", HEALTH, akid=akid, secret=secret)
    finally:
        signer.close()


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _config(credentials, reload_interval: float) -> str:
    return f"[server]\nreload_interval_seconds = {reload_interval}\n" + store_toml(
        "", "software", credentials
    )


@pytest.mark.parametrize("trigger", ["file-change", "sighup"])
def test_credentials_rotate_without_restart(tmp_path, trigger):
    # With SIGHUP the polling interval is an hour, so only the signal can cause the reload.
    interval = 0.1 if trigger == "file-change" else 3600
    proxy = start_proxy(tmp_path, _config([(AKID, SECRET)], interval))
    config = tmp_path / "config.toml"

    def rewrite(credentials) -> None:
        config.write_text(_config(credentials, interval))
        if trigger == "sighup":
            proxy.process.send_signal(signal.SIGHUP)

    try:
        assert _health(proxy).status == 200
        assert _health(proxy, akid=AKID2, secret=SECRET2).status == 401
        # Step 1: both pairs are valid while KMS is switched over.
        rewrite([(AKID, SECRET), (AKID2, SECRET2)])
        assert _eventually(lambda: _health(proxy, akid=AKID2, secret=SECRET2).status == 200)
        assert _health(proxy).status == 200
        # Step 2: the old pair is dropped.
        rewrite([(AKID2, SECRET2)])
        assert _eventually(lambda: _health(proxy).status == 401)
        assert _health(proxy, akid=AKID2, secret=SECRET2).status == 200
        # A broken config is logged and ignored: the current credentials stay in force.
        config.write_text("this is not toml [")
        if trigger == "sighup":
            proxy.process.send_signal(signal.SIGHUP)
        assert _eventually(lambda: "keeping the current credentials" in proxy.log())
        assert _health(proxy, akid=AKID2, secret=SECRET2).status == 200
        assert proxy.process.poll() is None
    finally:
        proxy.stop()


def test_software_keys_survive_a_restart_and_stay_wrapped(tmp_path):
    text = store_toml("", "software")
    proxy = start_proxy(tmp_path, text)
    signer = BotocoreSigner()
    try:
        body = _encrypt_request(b"persist me")
        sealed = signer.post(f"{proxy.url}{API}/keys/foo/encrypt", body).body
        proxy.stop()
        wrapping = tmp_path / "data" / "wrapping.key"
        assert wrapping.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "data" / "keys.json").stat().st_mode & 0o777 == 0o600
        stored = json.loads((tmp_path / "data" / "keys.json").read_text())["keys"]
        assert set(stored) == {"foo", "enc-only", "dec-only", "no-usage"}
        assert all(len(base64.b64decode(blob)) == 40 for blob in stored.values())  # wrapped: 32+8
        proxy = start_proxy(tmp_path, text)
        body = {
            "requestMetadata": metadata_for("decrypt"),
            "encryptionAlgorithm": "AES_GCM",
            **sealed,
        }
        reply = signer.post(f"{proxy.url}{API}/keys/foo/decrypt", body)
        assert base64.b64decode(reply.body["plaintext"]) == b"persist me"
        assert "persist me" not in proxy.log()
    finally:
        signer.close()
        proxy.stop()


def test_token_removed_makes_health_unavailable(tmp_path):
    token = make_token(tmp_path / "hsm", label="removable")
    text = store_toml("", "pkcs11") + (
        f'\n[pkcs11]\nmodule = "{SOFTHSM_MODULE}"\ntoken_label = "removable"\npin = "{PIN}"\n'
    )
    proxy = start_proxy(tmp_path, text, env=token.env)
    signer = BotocoreSigner()
    encrypt = _encrypt_request(b"x")
    try:
        health = _health(proxy)
        assert health.body["ekmFleetDetails"][0]["healthStatus"] == "ACTIVE"
        assert signer.post(f"{proxy.url}{API}/keys/foo/encrypt", encrypt).status == 200
        token.remove()
        health = _health(proxy)
        assert health.status == 200
        [ekm] = health.body["ekmFleetDetails"]
        assert (ekm["id"], ekm["healthStatus"]) == ("removable", "UNAVAILABLE")
        assert ekm["model"].startswith("SoftHSM v2")  # the last known model is still reported
        reply = signer.post(f"{proxy.url}{API}/keys/foo/encrypt", encrypt)
        assert (reply.status, reply.error) == (500, "InternalException")
        assert "Traceback" not in proxy.log()
    finally:
        signer.close()
        proxy.stop()


def test_missing_token_at_start_is_unavailable_not_a_crash(tmp_path):
    token = make_token(tmp_path / "hsm", label="present")
    text = store_toml("", "pkcs11") + (
        f'\n[pkcs11]\nmodule = "{SOFTHSM_MODULE}"\ntoken_label = "absent"\npin = "{PIN}"\n'
    )
    proxy = start_proxy(tmp_path, text, env=token.env)
    try:
        health = _health(proxy)
        assert health.body["ekmFleetDetails"][0]["healthStatus"] == "UNAVAILABLE"
    finally:
        proxy.stop()


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmscks", "xks-proxy", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server\n", "not valid TOML"),
        ("[server]\nport = 'x'\n", "server.port"),
        ("[server]\n", "at least one store"),
        ("[server]\nbogus = 1\n" + store_toml("", "software"), "unknown setting(s) bogus"),
        (store_toml("/trailing/", "software"), "uri_path_prefix"),
        (store_toml("", "software", [("short", SECRET)]), "access_key_id"),
        (store_toml("", "software", [(AKID, "short")]), "secret_access_key"),
        (store_toml("", "software", [(AKID, SECRET)] * 3), "1 or 2"),
        (store_toml("", "pkcs11"), "no [pkcs11] section"),
        (store_toml("", "software") + store_toml("", "software"), "duplicate uri_path_prefix"),
        ('[server]\ntls_cert = "c.pem"\n' + store_toml("", "software"), "given together"),
    ],
)
def test_bad_config_exits_2_with_a_message(tmp_path, text, message):
    config = tmp_path / "config.toml"
    config.write_text(text)
    done = _run_cli("--config", str(config))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stderr


def test_missing_config_file(tmp_path):
    done = _run_cli("--config", str(tmp_path / "nope.toml"))
    assert done.returncode == 2 and "cannot read" in done.stderr


def _tls_config(tmp_path, **files):
    """A proxy config (config.toml) beside make_tls's files, with `files` replacing them."""
    make_tls(tmp_path)
    named = {"tls_cert": "server.pem", "tls_key": "server-key.pem", **files}
    server = "".join(f'{name} = "{file}"\n' for name, file in named.items())
    config = tmp_path / "config.toml"
    config.write_text("[server]\n" + server + store_toml("", "software"))
    return config


@pytest.mark.parametrize("setting", ["tls_cert", "tls_key", "mtls_client_ca"])
def test_missing_tls_file_is_named(tmp_path, setting):
    """ssl's own error names neither the file nor the setting; exit 1 as docs/xks-proxy.md
    says for TLS files that cannot be loaded."""
    files = {"mtls_client_ca": "ca.pem", setting: "missing.pem"}
    config = _tls_config(tmp_path, **files)
    done = _run_cli("--config", str(config))
    missing = config.resolve().parent / "missing.pem"
    assert done.returncode == 1, done.stderr
    assert f"cks xks-proxy: server.{setting}: no such file: {missing}\n" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreadable_tls_file_is_named(tmp_path):
    config = _tls_config(tmp_path, tls_key=".")
    done = _run_cli("--config", str(config))
    assert done.returncode == 1, done.stderr
    assert f"server.tls_key: cannot read {config.resolve().parent}: Is a directory" in done.stderr


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"tls_cert": "config.toml"},
            "server.tls_cert / server.tls_key: not a PEM certificate and its key: ",
        ),
        ({"tls_key": "server.pem"}, "server.tls_cert / server.tls_key: not a PEM certificate"),
        ({"mtls_client_ca": "config.toml"}, "server.mtls_client_ca: not a PEM certificate bundle"),
    ],
)
def test_a_tls_file_that_is_not_pem_is_named(tmp_path, files, message):
    done = _run_cli("--config", str(_tls_config(tmp_path, **files)))
    assert done.returncode == 1, done.stderr
    assert f"cks xks-proxy: {message}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_wrong_pin_is_unavailable(tmp_path):
    token = make_token(tmp_path / "hsm", label="pinned")
    text = store_toml("", "pkcs11") + (
        f'\n[pkcs11]\nmodule = "{SOFTHSM_MODULE}"\ntoken_label = "pinned"\npin = "0000"\n'
    )
    proxy = start_proxy(tmp_path, text, env=token.env)
    try:
        health = _health(proxy)
        assert health.body["ekmFleetDetails"][0]["healthStatus"] == "UNAVAILABLE"
        assert "0000" not in proxy.log()
    finally:
        proxy.stop()


def test_key_made_with_pkcs11_tool(tmp_path):
    # The reference proxy's setup: `pkcs11-tool --keygen --key-type aes:32 --label ...`.
    token = make_token(tmp_path / "hsm", label="opensc")
    tool = require_tool("pkcs11-tool")
    login = [tool, "--module", SOFTHSM_MODULE, "--token-label", "opensc", "--login", "--pin", PIN]
    subprocess.run(
        [*login, "--keygen", "--key-type", "aes:32", "--label", "made-by-opensc"],
        env=token.env,
        check=True,
        capture_output=True,
    )
    text = (
        '\n[[stores]]\nuri_path_prefix = ""\n'
        f'credentials = [{{ access_key_id = "{AKID}", secret_access_key = "{SECRET}" }}]\n'
        '[[stores.keys]]\nid = "made-by-opensc"\nbackend = "pkcs11"\n'
        f'[pkcs11]\nmodule = "{SOFTHSM_MODULE}"\ntoken_label = "opensc"\npin = "{PIN}"\n'
    )
    proxy = start_proxy(tmp_path, text, env=token.env)
    signer = BotocoreSigner()
    try:
        url = f"{proxy.url}{API}/keys/made-by-opensc"
        sealed = signer.post(
            url + "/encrypt",
            _encrypt_request(b"opensc", ciphertextDataIntegrityValueAlgorithm="SHA_256"),
        )
        assert sealed.status == 200, sealed.body
        fields = {k: v for k, v in sealed.body.items() if k != "ciphertextDataIntegrityValue"}
        body = {"requestMetadata": metadata_for("decrypt"), "encryptionAlgorithm": "AES_GCM"}
        reply = signer.post(url + "/decrypt", {**body, **fields})
        assert base64.b64decode(reply.body["plaintext"]) == b"opensc"
    finally:
        signer.close()
        proxy.stop()


def test_every_request_leaves_a_line_and_no_secret(tmp_path):
    """Served, refused by its signature, by its path or as malformed HTTP: one line each."""
    proxy = start_proxy(tmp_path, store_toml("", "software"))
    signer = BotocoreSigner()
    encrypt = _encrypt_request(b"log me not")
    try:
        assert signer.post(f"{proxy.url}{API}/keys/foo/encrypt", encrypt).status == 200
        wrong_secret = signer.post(f"{proxy.url}{API}/keys/foo/encrypt", encrypt, secret="x" * 40)
        assert wrong_secret.error == "AuthenticationFailedException"
        assert signer.post(f"{proxy.url}{API}/keys/foo/sign", encrypt).status == 404
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as raw:
            raw.sendall(b"POST / HTTP/1.1\nHost: x\n\n")  # LF alone: malformed
            assert raw.recv(1000).startswith(b"HTTP/1.1 400")
        expected = (
            "request kmsRequestId=",
            "SigV4 rejected",
            f"refused POST {API}/keys/foo/sign: InvalidUriPathException",
            "refused a malformed request: malformed request: a line ends with LF alone",
        )
        assert _eventually(lambda: all(part in proxy.log() for part in expected)), proxy.log()
        assert "log me not" not in proxy.log() and SECRET not in proxy.log()
    finally:
        signer.close()
        proxy.stop()


def test_sigterm_ends_kept_alive_tls_connections_at_once(tmp_path):
    """A client holding idle kept-alive TLS connections (as cks's key client does) never sends
    close_notify; the proxy must not wait for it (asyncio's TLS close waits up to 30 s) but
    end them and exit, without a traceback."""
    tls = make_tls(tmp_path)
    text = '[server]\ntls_cert = "server.pem"\ntls_key = "server-key.pem"\n' + store_toml(
        "", "software"
    )
    proxy = start_proxy(tmp_path, text)
    context = ssl.create_default_context(cafile=str(tls.ca_path))
    held = []
    try:
        for request in (
            b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}",
            b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Len",
        ):
            raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            connection = context.wrap_socket(raw, server_hostname="localhost")
            connection.sendall(request)
            held.append(connection)
        assert held[0].recv(100).startswith(b"HTTP/1.1 404")  # answered, then kept idle
        proxy.process.send_signal(signal.SIGTERM)
        assert proxy.process.wait(timeout=5) == 0, proxy.log()
        for connection in held:  # ended by the proxy: the rest of what was sent, then EOF
            with contextlib.suppress(ConnectionResetError, ssl.SSLEOFError):
                while connection.recv(4096):
                    pass
        assert "Traceback" not in proxy.log() and "ERROR" not in proxy.log(), proxy.log()
    finally:
        for connection in held:
            connection.close()
        proxy.stop()
