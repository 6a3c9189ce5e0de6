"""Unit tests of the byte-level rules (the spec's CDIV vector), and `cks xks-proxy init`."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

from kmscks.xksproxy import aead, config
from kmscks.xksproxy.init import new_access_key_id, new_secret
from tests.xksproxy.xks_helpers import API, BotocoreSigner, metadata_for, start_proxy


def test_spec_worked_integrity_value_example():
    # Spec v1.0.3 Encrypt response example (Appendix C): AAD "project=nile,department=marketing"
    # and ciphertextMetadata "key_version=1"; IV, ciphertext and tag from the same example.
    aad = base64.b64decode("cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n")
    assert aad == b"project=nile,department=marketing"
    metadata = base64.b64decode("a2V5X3ZlcnNpb249MQ==")
    assert metadata == b"key_version=1"
    iv = base64.b64decode("HMrlRw85cAJUd5Ax")
    ciphertext = base64.b64decode("ghxkK1txeDNn3q8Y")
    tag = base64.b64decode("vBxN2ncH1oEkR8WVXpmyYQ==")
    value = aead.integrity_value(aad, metadata, iv, ciphertext, tag)
    assert base64.b64encode(value).decode() == "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="


def test_backend_aad_is_length_prefixed():
    assert aead.backend_aad(b"", b"") == b"\x00\x00\x00"
    assert aead.backend_aad(b"ab", b"xyz") == b"\x00\x02ab\x03xyz"
    assert aead.backend_aad(b"a" * 300, b"") == b"\x01\x2c" + b"a" * 300 + b"\x00"
    # The prefixes keep the split unambiguous: moving a byte across the boundary changes it.
    assert aead.backend_aad(b"ab", b"c") != aead.backend_aad(b"a", b"bc")


def test_generated_credentials_have_the_spec_format():
    for _ in range(20):
        assert re.fullmatch(r"[A-Z2-7]{20,30}", new_access_key_id())
        assert re.fullmatch(r"[A-Za-z0-9/+=]{43,64}", new_secret())
    assert new_secret() != new_secret()


def test_init_writes_a_ready_config(tmp_path):
    directory = tmp_path / "proxy"
    init = [sys.executable, "-m", "kmscks", "xks-proxy", "init", str(directory)]
    done = subprocess.run(
        [*init, "--hostname", "xks.example.test", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    values = dict(re.findall(r"^  (\w+(?: \w+)?(?: \(\w+\))?):\s+(\S+)$", done.stdout, re.M))
    assert values["XksProxyUriPath"] == "/cks/store1" + API
    assert values["XksProxyUriEndpoint"] == "https://xks.example.test"
    assert re.fullmatch(r"[A-Z2-7]{20,30}", values["AccessKeyId"])
    assert re.fullmatch(r"[A-Za-z0-9/+=]{43,64}", values["RawSecretAccessKey"])
    assert values["CA certificate"] == str(directory / "ca.pem")
    for private in ("config.toml", "server-key.pem", "ca-key.pem", "client-key.pem"):
        assert (directory / private).stat().st_mode & 0o777 == 0o600, private
    exported = json.loads((directory / "xks-proxy-configuration.json").read_text())
    assert exported["XksProxyAuthenticationCredential"]["AccessKeyId"] == values["AccessKeyId"]
    loaded = config.load(directory / "config.toml")
    assert loaded.server.tls_cert == directory / "server.pem"

    # A second init refuses to overwrite; --force replaces the credentials.
    again = subprocess.run(
        [sys.executable, "-m", "kmscks", "xks-proxy", "init", str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert again.returncode == 2 and "exists" in again.stderr

    # The written config serves as is, over TLS with the written CA, with the printed values.
    proxy = start_proxy(directory, (directory / "config.toml").read_text())
    signer = BotocoreSigner(str(directory / "ca.pem"))
    try:
        url = f"{proxy.url}{values['XksProxyUriPath']}/health"
        reply = signer.post(
            url,
            {"requestMetadata": metadata_for("health")},
            akid=values["AccessKeyId"],
            secret=values["RawSecretAccessKey"],
        )
        assert reply.status == 200, reply.body
        url = (
            f"{proxy.url}{values['XksProxyUriPath']}/keys/{values['XksKeyId (CreateKey)']}/metadata"
        )
        reply = signer.post(
            url,
            {"requestMetadata": metadata_for("metadata")},
            akid=values["AccessKeyId"],
            secret=values["RawSecretAccessKey"],
        )
        assert reply.body["keyUsage"] == ["ENCRYPT", "DECRYPT"]
    finally:
        signer.close()
        proxy.stop()


def test_key_function_not_permitted_is_recognised():
    # python-pkcs11 0.10 has no exception class for CKR_KEY_FUNCTION_NOT_PERMITTED (0x68).
    from pkcs11 import exceptions as p11

    from kmscks.xksproxy.backends.pkcs11 import _key_function_not_permitted

    assert _key_function_not_permitted(p11.PKCS11Error("Unmapped error code 0x68"))
    assert not _key_function_not_permitted(p11.PKCS11Error("Unmapped error code 0x6"))
    assert not _key_function_not_permitted(p11.GeneralError())
