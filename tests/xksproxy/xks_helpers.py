"""Helpers for the XKS proxy tests: real `cks xks-proxy` processes, SoftHSM2 tokens, signers.

Every proxy runs as its own process on 127.0.0.1 with a free port (it prints the port it got),
and every SoftHSM2 token lives in a private SOFTHSM2_CONF + tokendir under a temp dir, looked
up by label. Under CI=true a missing external tool fails the test instead of skipping it.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests_aws4auth import AWS4Auth

from kmscks.xksproxy import certs

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"
SO_PIN = "5678"
REGION = "us-east-1"
SERVICE = "kms-xks-proxy"
API = "/kms/xks/v1"

# Fixed, well-formed test credentials ([A-Z2-7]{20,30} and [A-Za-z0-9/+=]{43,64}).
AKID = "AKIDXKSPROXYTEST2345"
SECRET = base64.b64encode(b"cks xks proxy test secret, 32 b.").decode()
AKID2 = "AKIDXKSPROXYROTATED7"
SECRET2 = base64.b64encode(b"cks xks proxy rotated secret 32b").decode()

# Keys every test proxy has, in both backends: (id, config usage, token CKA_ENCRYPT/DECRYPT).
KEYS = {
    "foo": ("ENCRYPT", "DECRYPT"),
    "enc-only": ("ENCRYPT",),
    "dec-only": ("DECRYPT",),
    "no-usage": (),
}


def require_tool(name: str) -> str:
    """The tool's path; skip without it, or fail under CI=true (the project installs it)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (make system-deps)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_softhsm() -> None:
    require_tool("softhsm2-util")
    if not Path(SOFTHSM_MODULE).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SOFTHSM_MODULE} is missing (make system-deps)")
        pytest.skip(f"{SOFTHSM_MODULE} is missing")


# -- SoftHSM2 -----------------------------------------------------------------------------

_MAKE_KEYS = """
import sys, pkcs11
from pkcs11 import Attribute, KeyType
lib = pkcs11.lib(sys.argv[1])
with lib.get_token(token_label=sys.argv[2]).open(rw=True, user_pin=sys.argv[3]) as session:
    for spec in sys.argv[4:]:
        label, enc, dec = spec.split(":")
        session.generate_key(KeyType.AES, 256, label=label, store=True, template={
            Attribute.ENCRYPT: enc == "1", Attribute.DECRYPT: dec == "1",
            Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
"""


@dataclass
class SoftHsmToken:
    directory: Path
    conf: Path
    label: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf)}

    def remove(self) -> None:
        """Take the token away, as if it were unplugged: its files vanish from the tokendir."""
        for child in (self.directory / "tokens").iterdir():
            shutil.rmtree(child)


def make_token(directory: Path, label: str = "cks-test") -> SoftHsmToken:
    require_softhsm()
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    token = SoftHsmToken(directory, conf, label)
    init = ["softhsm2-util", "--init-token", "--free", "--label", label]
    subprocess.run(
        [*init, "--so-pin", SO_PIN, "--pin", PIN],
        env=token.env,
        check=True,
        capture_output=True,
    )
    specs = [
        f"{key_id}:{int('ENCRYPT' in usage)}:{int('DECRYPT' in usage)}"
        for key_id, usage in KEYS.items()
    ]
    subprocess.run(
        [sys.executable, "-c", _MAKE_KEYS, SOFTHSM_MODULE, label, PIN, *specs],
        env=token.env,
        check=True,
        capture_output=True,
    )
    return token


# -- proxy processes ----------------------------------------------------------------------


@dataclass
class ProxyProcess:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    directory: Path
    ca: Path | None = None
    stderr_path: Path = field(default_factory=Path)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_proxy(
    directory: Path, config_text: str, env: dict[str, str] | None = None, port: int = 0
) -> ProxyProcess:
    """Write config.toml into `directory`, start `cks xks-proxy` on `port` (0: a free one)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.toml"
    config.write_text(config_text)
    stderr_path = directory / "proxy.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kmscks",
                "xks-proxy",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    line = b""
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            break
    if b"listening on" not in line:
        process.kill()
        process.wait()
        process.stdout.close()
        raise AssertionError(f"proxy did not start: {stderr_path.read_text(errors='replace')}")
    url = line.decode().strip().rsplit(" ", 1)[1]
    port = int(url.rsplit(":", 1)[1])
    return ProxyProcess(process, url, port, directory, stderr_path=stderr_path)


def store_toml(prefix: str, backend: str, credentials: list[tuple[str, str]] | None = None) -> str:
    creds = ", ".join(
        f'{{ access_key_id = "{a}", secret_access_key = "{s}" }}'
        for a, s in (credentials or [(AKID, SECRET)])
    )
    keys = "".join(
        f'\n[[stores.keys]]\nid = "{key_id}"\nusage = {json.dumps(list(usage))}\n'
        f'backend = "{backend}"\n'
        for key_id, usage in KEYS.items()
    )
    extra = (
        f'\n[[stores.keys]]\nid = "disabled"\nbackend = "{backend}"\nlabel = "foo"\n'
        'status = "DISABLED"\n'
        f'\n[[stores.keys]]\nid = "with-metadata"\nbackend = "{backend}"\nlabel = "foo"\n'
        'ciphertext_metadata = "key_version=1"\n'
        f'\n[[stores.keys]]\nid = "foo-dec-only"\nbackend = "{backend}"\nlabel = "foo"\n'
        'usage = ["DECRYPT"]\n'
    )
    return f'\n[[stores]]\nuri_path_prefix = "{prefix}"\ncredentials = [{creds}]\n{keys}{extra}'


@dataclass
class TlsFiles:
    ca: certs.Issued
    ca_path: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca = certs.new_ca("cks test CA")
    server = certs.issue(ca, "localhost", dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    (directory / "ca.pem").write_bytes(ca.cert_pem())
    (directory / "server.pem").write_bytes(server.cert_pem())
    (directory / "server-key.pem").write_bytes(server.key_pem())
    return TlsFiles(
        ca, directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    )


# -- signing clients ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    raw: bytes

    @property
    def error(self) -> str | None:
        return self.body.get("errorName") if isinstance(self.body, dict) else None


def _reply(status: int, raw: bytes) -> Reply:
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    return Reply(status, body, raw)


class Signer:
    """POSTs a JSON body, SigV4-signed by one real client library or tool."""

    name = "base"

    def __init__(self, verify: str | bool = True) -> None:
        self.verify = verify
        self.session = requests.Session()

    def post(
        self,
        url: str,
        body: Any,
        akid: str = AKID,
        secret: str = SECRET,
        region: str = REGION,
    ) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        self.session.close()


def _payload(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


class BotocoreSigner(Signer):
    name = "botocore"

    def post(
        self,
        url: str,
        body: Any,
        akid: str = AKID,
        secret: str = SECRET,
        region: str = REGION,
    ) -> Reply:
        data = _payload(body)
        request = AWSRequest(
            method="POST", url=url, data=data, headers={"Content-Type": "application/json"}
        )
        SigV4Auth(Credentials(akid, secret), SERVICE, region).add_auth(request)
        response = self.session.post(
            url, data=data, headers=dict(request.headers), verify=self.verify, timeout=10
        )
        return _reply(response.status_code, response.content)


class Aws4AuthSigner(Signer):
    name = "aws4auth"

    def post(
        self,
        url: str,
        body: Any,
        akid: str = AKID,
        secret: str = SECRET,
        region: str = REGION,
        amz_date: str | None = None,
    ) -> Reply:
        headers = {"Content-Type": "application/json"}
        if amz_date:
            headers["X-Amz-Date"] = amz_date  # aws4auth signs with a date it finds there
        response = self.session.post(
            url,
            data=_payload(body),
            headers=headers,
            auth=AWS4Auth(akid, secret, region, SERVICE),
            verify=self.verify,
            timeout=10,
        )
        return _reply(response.status_code, response.content)


class CurlSigner(Signer):
    name = "curl"

    def __init__(self, verify: str | bool = True) -> None:
        super().__init__(verify)
        self.curl = require_tool("curl")

    def post(
        self,
        url: str,
        body: Any,
        akid: str = AKID,
        secret: str = SECRET,
        region: str = REGION,
    ) -> Reply:
        command = [self.curl, "-s", "-S", "-o", "-", "-w", "\n%{http_code}"]
        command += ["--aws-sigv4", f"aws:amz:{region}:{SERVICE}", "--user", f"{akid}:{secret}"]
        command += ["-H", "Content-Type: application/json", "--data-binary", "@-", url]
        if isinstance(self.verify, str):
            command += ["--cacert", self.verify]
        done = subprocess.run(command, input=_payload(body), capture_output=True, timeout=20)
        assert done.returncode == 0, done.stderr.decode()
        raw, _, status = done.stdout.rpartition(b"\n")
        return _reply(int(status), raw)


SIGNERS: dict[str, type[Signer]] = {
    "botocore": BotocoreSigner,
    "aws4auth": Aws4AuthSigner,
    "curl": CurlSigner,
}


def metadata_for(operation: str) -> dict[str, str]:
    base = {"kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae"}
    if operation == "health":
        return {**base, "kmsOperation": "KmsHealthCheck"}
    principal = {"awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice"}
    if operation == "metadata":
        return {**base, "kmsOperation": "CreateKey", **principal}
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    kms_operation = "Encrypt" if operation == "encrypt" else "Decrypt"
    return {**base, "kmsOperation": kms_operation, **principal, "kmsKeyArn": key_arn}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
