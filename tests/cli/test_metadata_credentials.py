"""Credentials from container and EC2 instance metadata, served by a fake on 127.0.0.1 to both
aws and cks (the stub then shows which access key signed each request)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Runners, as_cks, base_env, describe_difference
from tests.cli.stub_kms import StubKMS

D = "describe-custom-key-stores"
DOCUMENT = {
    "Code": "Success",
    "AccessKeyId": "AKIDFROMMETADATA",
    "SecretAccessKey": "secret",
    "Token": "session-token",
    "Expiration": "2099-01-01T00:00:00Z",
}


class FakeMetadata:
    """IMDSv2 (token, role list, role credentials) and a container credentials endpoint."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:
                fake.requests.append(("PUT", self.path, dict(self.headers)))
                self._answer(200, b"imds-token")

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, dict(self.headers)))
                if self.path == "/latest/meta-data/iam/security-credentials/":
                    self._answer(200, b"the-role")
                elif self.path in ("/latest/meta-data/iam/security-credentials/the-role", "/creds"):
                    self._answer(200, json.dumps(DOCUMENT).encode())
                else:
                    self._answer(404, b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def metadata() -> Iterator[FakeMetadata]:
    fake = FakeMetadata()
    yield fake
    fake.stop()


NO_KEYS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}


@pytest.mark.parametrize("source", ["imds", "container"])
def test_metadata_credentials_match_aws(
    source: str,
    runners: Runners,
    cli_home: Path,
    fresh_stub: StubKMS,
    metadata: FakeMetadata,
    tmp_path: Path,
) -> None:
    if source == "imds":
        endpoint = metadata.url + "/"
        extra = {"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint}
    else:
        # The token comes from the variable: Debian's 2.9.19 predates ..._TOKEN_FILE.
        extra = {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": metadata.url + "/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token",
        }
    env = base_env(cli_home, **NO_KEYS, **extra)
    args = ["kms", D, "--endpoint-url", fresh_stub.url, "--max-items", "1"]
    aws, cks = as_cks(runners.aws(args, env)), runners.cks(args, env)
    assert aws == cks, describe_difference(source, aws, cks)
    assert cks.rc == 0
    signed = [r["headers"].get("Authorization", "") for r in fresh_stub.state.requests]
    assert len(signed) == 2 and all("Credential=AKIDFROMMETADATA/" in a for a in signed)
    tokens = {r["headers"].get("X-Amz-Security-Token") for r in fresh_stub.state.requests}
    assert tokens == {"session-token"}
    if source == "imds":
        assert [(m, p) for m, p, _ in metadata.requests].count(("PUT", "/latest/api/token")) == 2
        assert all(
            h.get("x-aws-ec2-metadata-token") == "imds-token"
            for m, _, h in metadata.requests
            if m == "GET"
        )
    else:
        assert {h.get("Authorization") for _, _, h in metadata.requests} == {"container-token"}


def test_container_credentials_refuse_other_hosts(cks: Any, fresh_stub: StubKMS) -> None:
    result = cks(
        [D, "--endpoint-url", fresh_stub.url],
        **NO_KEYS,
        AWS_CONTAINER_CREDENTIALS_FULL_URI="http://example.test/creds",
    )
    assert result.rc == 255
    assert b"Unsupported host 'example.test'." in result.stderr
    assert fresh_stub.state.requests == []


def test_imds_endpoint_without_a_slash_fails_like_aws(
    runners: Runners, cli_home: Path, fresh_stub: StubKMS, metadata: FakeMetadata
) -> None:
    extra = {"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": metadata.url}
    env = base_env(cli_home, **NO_KEYS, **extra)
    args = ["kms", D, "--endpoint-url", fresh_stub.url]
    aws, cks = as_cks(runners.aws(args, env)), runners.cks(args, env)
    assert aws == cks, describe_difference("no slash", aws, cks)
    assert cks.rc == 255 and b"Invalid endpoint EC2 Instance Metadata endpoint" in cks.stderr


def test_container_token_file(
    cks: Any, fresh_stub: StubKMS, metadata: FakeMetadata, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file")
    result = cks(
        [D, "--endpoint-url", fresh_stub.url, "--max-items", "1"],
        **NO_KEYS,
        AWS_CONTAINER_CREDENTIALS_FULL_URI=metadata.url + "/creds",
        AWS_CONTAINER_AUTHORIZATION_TOKEN="ignored-when-a-file-is-given",
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file),
    )
    assert result.rc == 0
    assert [h.get("Authorization") for _, _, h in metadata.requests] == ["from-a-file"]
