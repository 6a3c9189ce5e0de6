"""Credentials that need a provider: assume-role, web identity, SSO (botocore's resolver) and
credential_process (cks's own), for real, against stubs on 127.0.0.1.

The STS stub answers AssumeRole and AssumeRoleWithWebIdentity (AWS Query protocol, XML), the
SSO stub GetRoleCredentials; the KMS stub records the signed request, so each test checks that
`cks kms` signed with the temporary keys and sent their session token.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.cli.conftest import CKS, Runners, base_env, case, compare_cases
from tests.cli.stub_kms import StubKMS

D = "describe-custom-key-stores"
ASSUMED = ("ASIASTUBASSUMEDKEY01", "assumed-secret", "assumed-session-token")
SSO_KEYS = ("ASIASTUBSSOKEY000001", "sso-secret", "sso-session-token")


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # STS, AWS Query protocol
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = {key: values[0] for key, values in parse_qs(raw).items()}
        self.server.requests.append({"headers": dict(self.headers), "form": form})
        if self.server.deny:
            body = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                "<Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed to assume "
                f"{form.get('RoleArn')}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            )
            self._answer(403, body.encode(), "text/xml")
            return
        action = form["Action"]
        access, secret, token = ASSUMED
        body = (
            f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<{action}Result><Credentials><AccessKeyId>{access}</AccessKeyId>"
            f"<SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken>"
            "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
            "<AssumedRoleUser><AssumedRoleId>AROASTUB:s</AssumedRoleId>"
            "<Arn>arn:aws:sts::000000000000:assumed-role/r/s</Arn></AssumedRoleUser>"
            f"</{action}Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        )
        self._answer(200, body.encode(), "text/xml")

    def do_GET(self) -> None:  # the SSO portal's GetRoleCredentials
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        self.server.requests.append({"headers": dict(self.headers), "form": query})
        access, secret, token = SSO_KEYS
        credentials = {
            "accessKeyId": access,
            "secretAccessKey": secret,
            "sessionToken": token,
            "expiration": 4070908800000,
        }
        self._answer(200, json.dumps({"roleCredentials": credentials}).encode(), "application/json")


class _StubServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.deny = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def sts() -> Iterator[_StubServer]:
    server = _StubServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _home(root: Path, config: str, credentials: str = "") -> Path:
    (root / ".aws").mkdir(parents=True)
    (root / ".aws" / "config").write_text(config)
    (root / ".aws" / "credentials").write_text(credentials)
    return root


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CKS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _signed_with(stub: StubKMS, keys: tuple[str, str, str]) -> None:
    headers = {name.lower(): value for name, value in stub.state.requests[-1]["headers"].items()}
    assert f"Credential={keys[0]}/" in headers["authorization"]
    assert headers["x-amz-security-token"] == keys[2]


NO_KEYS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_DEFAULT_REGION": ""}


@pytest.mark.parametrize("how", ["AWS_ENDPOINT_URL_STS", "services section"])
def test_assume_role_with_a_source_profile(
    how: str, sts: _StubServer, fresh_stub: StubKMS, tmp_path: Path
) -> None:
    services = f"services = local\n[services local]\nsts =\n  endpoint_url = {sts.url}\n"
    home = _home(
        tmp_path,
        "[profile dev]\nregion = eu-west-1\nrole_arn = arn:aws:iam::000000000000:role/dev\n"
        "source_profile = base\nrole_session_name = cks-test\n"
        + (services if how == "services section" else "")
        + "[profile base]\nregion = eu-west-1\n",
        "[base]\naws_access_key_id = AKIDBASESOURCE000001\naws_secret_access_key = base\n",
    )
    extra = {"AWS_ENDPOINT_URL_STS": sts.url} if how == "AWS_ENDPOINT_URL_STS" else {}
    env = base_env(home, **NO_KEYS, **extra)
    done = _run(env, D, "--endpoint-url", fresh_stub.url, "--profile", "dev")
    assert done.returncode == 0, done.stderr
    _signed_with(fresh_stub, ASSUMED)
    (call,) = sts.requests
    assert call["form"]["Action"] == "AssumeRole"
    assert call["form"]["RoleArn"] == "arn:aws:iam::000000000000:role/dev"
    assert call["form"]["RoleSessionName"] == "cks-test"
    assert "Credential=AKIDBASESOURCE000001/" in call["headers"]["Authorization"]


def test_assume_role_errors_are_reported(sts: _StubServer, tmp_path: Path) -> None:
    sts.deny = True
    home = _home(
        tmp_path,
        "[default]\nregion = eu-west-1\nrole_arn = arn:aws:iam::000000000000:role/no\n"
        "source_profile = base\n[profile base]\n",
        "[base]\naws_access_key_id = AKIDBASESOURCE000001\naws_secret_access_key = base\n",
    )
    done = _run(base_env(home, **NO_KEYS, AWS_ENDPOINT_URL_STS=sts.url), D, "--endpoint-url",
                "http://127.0.0.1:9")  # fmt: skip
    assert done.returncode == 255 and done.stdout == ""
    assert done.stderr == (
        "\nAn error occurred (AccessDenied) when calling the AssumeRole operation: "
        "not allowed to assume arn:aws:iam::000000000000:role/no\n"
    )


def test_web_identity_token_file(sts: _StubServer, fresh_stub: StubKMS, tmp_path: Path) -> None:
    token = tmp_path / "token.jwt"
    token.write_text("eyJ.header.payload")
    home = _home(
        tmp_path,
        f"[default]\nregion = eu-west-1\nrole_arn = arn:aws:iam::000000000000:role/oidc\n"
        f"web_identity_token_file = {token}\n",
    )
    env = base_env(home, **NO_KEYS, AWS_ENDPOINT_URL_STS=sts.url)
    done = _run(env, D, "--endpoint-url", fresh_stub.url)
    assert done.returncode == 0, done.stderr
    _signed_with(fresh_stub, ASSUMED)
    assert sts.requests[0]["form"]["Action"] == "AssumeRoleWithWebIdentity"
    assert sts.requests[0]["form"]["WebIdentityToken"] == "eyJ.header.payload"


def test_sso_session_profile(sts: _StubServer, fresh_stub: StubKMS, tmp_path: Path) -> None:
    home = _home(
        tmp_path,
        "[default]\nregion = eu-west-1\nsso_session = corp\nsso_account_id = 000000000000\n"
        "sso_role_name = Admin\n[sso-session corp]\nsso_region = eu-west-1\n"
        "sso_start_url = https://corp.awsapps.com/start\n",
    )
    cache = home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    (cache / (hashlib.sha1(b"corp").hexdigest() + ".json")).write_text(
        json.dumps(
            {
                "startUrl": "https://corp.awsapps.com/start",
                "region": "eu-west-1",
                "accessToken": "sso-access-token",
                "expiresAt": "2099-01-01T00:00:00Z",
            }
        )
    )
    env = base_env(home, **NO_KEYS, AWS_ENDPOINT_URL_SSO=sts.url)
    done = _run(env, D, "--endpoint-url", fresh_stub.url)
    assert done.returncode == 0, done.stderr
    _signed_with(fresh_stub, SSO_KEYS)
    (call,) = sts.requests
    assert call["form"] == {"role_name": "Admin", "account_id": "000000000000"}
    assert call["headers"]["x-amz-sso_bearer_token"] == "sso-access-token"


def test_credential_process_sends_its_session_token(fresh_stub: StubKMS, tmp_path: Path) -> None:
    answer = {"Version": 1, "AccessKeyId": "ASIAPROCESS000000001", "SecretAccessKey": "p",
              "SessionToken": "process-token", "Expiration": "2099-01-01T00:00:00Z"}  # fmt: skip
    script = tmp_path / "creds.sh"
    script.write_text(f"#!/bin/sh\necho '{json.dumps(answer)}'\n")
    script.chmod(0o755)
    home = _home(tmp_path, f"[default]\nregion = eu-west-1\ncredential_process = {script}\n")
    done = _run(base_env(home, **NO_KEYS), D, "--endpoint-url", fresh_stub.url)
    assert done.returncode == 0, done.stderr
    _signed_with(fresh_stub, ("ASIAPROCESS000000001", "p", "process-token"))


def test_credential_process_failures_match_aws(
    runners: Runners, stub_kms: StubKMS, tmp_path: Path
) -> None:
    def process(name: str, command: str) -> str:
        return f"[profile {name}]\nregion = us-east-1\ncredential_process = {command}\n"

    home = _home(
        tmp_path,
        process("fails", "/bin/sh -c 'echo no such user >&2; exit 3'")
        + process(
            "v2", """/bin/echo '{"Version": 2, "AccessKeyId": "a", "SecretAccessKey": "b"}'"""
        )
        + process("partial", """/bin/echo '{"Version": 1, "AccessKeyId": "a"}'"""),
    )
    from tests.cli.conftest import make_home

    make_home(home)
    e = ("--endpoint-url", stub_kms.url)
    cases = [case(D, *e, "--profile", name, **NO_KEYS) for name in ("fails", "v2", "partial")]
    diffs = compare_cases(runners, cases, home)
    assert not diffs, "".join(diffs)


def test_static_keys_stay_on_the_fast_path(tmp_path: Path) -> None:
    home = _home(
        tmp_path,
        "[default]\nregion = eu-west-1\n[profile role]\nrole_arn = arn:aws:iam::0:role/r\n"
        "source_profile = default\n",
        "[default]\naws_access_key_id = AKIDSTATIC\naws_secret_access_key = s\n",
    )
    code = (
        "import os, sys\nfrom kmscks.cli.settings import Settings\n"
        "Settings(dict(os.environ), None).find_credentials()\n"
        "print('botocore' in sys.modules)"
    )
    env = base_env(home, **NO_KEYS)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "False"
