"""The request log of `cks serve`: one line per request, one format, never a secret."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from kmscks.logsetup import JsonFormatter, TextFormatter
from tests.conftest import SECOND_ACCESS_KEY, SECOND_ACCOUNT, SECOND_SECRET
from tests.helpers.clients import kms_client, unique_region, xks_params
from tests.helpers.proxies import FakeProxy, wait_for
from tests.helpers.server import ServerProcess, start_cks_server

CONFIG = f"""
[[credentials]]
access_key_id = "{SECOND_ACCESS_KEY}"
secret_access_key = "{SECOND_SECRET}"
account_id = "{SECOND_ACCOUNT}"
"""


def request_lines(server: ServerProcess) -> list[str]:
    return [line for line in server.log().splitlines() if "kmscks.request" in line]


def line_with(server: ServerProcess, *parts: str) -> str:
    """The first request line containing every part (lines are flushed within 0.25 s)."""

    def find() -> str | None:
        return next((line for line in request_lines(server) if all(p in line for p in parts)), None)

    return str(wait_for(find, timeout=10))


@pytest.fixture(scope="module")
def text_server(tmp_path_factory: pytest.TempPathFactory) -> object:
    server = start_cks_server(tmp_path_factory.mktemp("requestlog-text"), CONFIG)
    yield server
    server.stop()


def test_a_bad_signature_is_logged_with_its_reason_and_no_secret(
    text_server: ServerProcess,
) -> None:
    region = unique_region()
    client = kms_client(text_server.url, region, SECOND_ACCESS_KEY, "not-the-secret-at-all")
    with pytest.raises(ClientError):
        client.describe_custom_key_stores()
    line = line_with(text_server, "error=InvalidSignatureException")
    assert f"key={SECOND_ACCESS_KEY}" in line
    assert f"region={region}" in line
    assert "op=DescribeCustomKeyStores" in line and "status=400" in line
    assert 'reason="The request signature we calculated does not match' in line
    log = text_server.log()
    for secret in ("not-the-secret-at-all", SECOND_SECRET, "Signature=", "AWS4-HMAC-SHA256"):
        assert secret not in log


def test_an_incomplete_signature_never_echoes_the_authorization_header(
    text_server: ServerProcess,
) -> None:
    import urllib.request

    request = urllib.request.Request(
        text_server.url + "/",
        b"{}",
        {
            "X-Amz-Target": "TrentService.DescribeCustomKeyStores",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDLEAK/20261130/us-east-1/kms/"
            "aws4_request, SignedHeaders=host, Signature=deadbeefcafe",
        },
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=5)
    line = line_with(text_server, "error=IncompleteSignatureException", "key=AKIDLEAK")
    assert "deadbeefcafe" not in line and "Authorization=" not in line


def test_an_unknown_id_and_a_success_each_leave_a_line(text_server: ServerProcess) -> None:
    region = unique_region()
    client = kms_client(text_server.url, region)
    with pytest.raises(ClientError) as caught:
        client.describe_custom_key_stores(CustomKeyStoreId="cks-1234567890abcdef0")
    request_id = caught.value.response["ResponseMetadata"]["RequestId"]
    line = line_with(text_server, f"id={request_id}")
    assert "account=000000000000" in line and f"region={region}" in line
    assert "error=CustomKeyStoreNotFoundException" in line and " ms=" in line
    answer = client.describe_custom_key_stores()
    line = line_with(text_server, f"id={answer['ResponseMetadata']['RequestId']}")
    assert "status=200" in line and "error=" not in line


def test_requests_refused_by_the_body_limits_leave_a_line(text_server: ServerProcess) -> None:
    """Refused before their body is read (so never authenticated): still one line each, with
    the operation the target names, the status, the error and why."""
    import http.client

    too_large = http.client.HTTPConnection("127.0.0.1", text_server.port, timeout=10)
    too_large.putrequest("POST", "/")
    too_large.putheader("X-Amz-Target", "TrentService.Encrypt")
    too_large.putheader("Content-Length", str(2**40))  # a 1 TB claim: refused on the header
    too_large.endheaders()
    answer = too_large.getresponse()
    assert answer.status == 413
    request_id = answer.getheader("x-amzn-RequestId")
    too_large.close()
    line = line_with(text_server, f"id={request_id}")
    assert "op=Encrypt" in line and "status=413" in line and "error=ValidationException" in line
    assert 'reason="The request is larger than 1048576 bytes."' in line
    assert "account=-" in line

    truncated = http.client.HTTPConnection("127.0.0.1", text_server.port, timeout=10)
    truncated.putrequest("POST", "/", skip_accept_encoding=True)
    truncated.putheader("X-Amz-Target", "TrentService.NoSuchOperation")
    truncated.putheader("Transfer-Encoding", "chunked")
    truncated.endheaders()
    truncated.send(b"zz\r\nnot a chunk\r\n0\r\n\r\n")  # a bad chunk size
    answer = truncated.getresponse()
    assert answer.status == 400
    request_id = answer.getheader("x-amzn-RequestId")
    truncated.close()
    line = line_with(text_server, f"id={request_id}")
    assert "op=-" in line and "error=SerializationException" in line
    assert "target=TrentService.NoSuchOperation" in line and "status=400" in line


def test_passwords_and_proxy_secrets_in_bodies_are_not_logged(
    text_server: ServerProcess,
) -> None:
    client = kms_client(text_server.url, unique_region())
    with pytest.raises(ClientError):
        client.create_custom_key_store(
            CustomKeyStoreName="pw",
            CloudHsmClusterId="cluster-234567abcdefg",
            TrustAnchorCertificate="not a certificate",
            KeyStorePassword="hunter2-password-value",
        )
    params = xks_params("proxy-secret", host="unmapped.example.test")
    with pytest.raises(ClientError):
        client.create_custom_key_store(**params)
    line_with(text_server, "op=CreateCustomKeyStore", "error=XksProxyUriUnreachableException")
    log = text_server.log()
    assert "hunter2-password-value" not in log
    assert params["XksProxyAuthenticationCredential"]["RawSecretAccessKey"] not in log


def test_an_unknown_target_is_logged_escaped() -> None:
    fields = {"op": "-", "target": 'Evil" op=Forged\nINFO fake line'}
    record = logging.LogRecord("kmscks.request", logging.INFO, "", 0, "request", None, None)
    record.__dict__["fields"] = fields  # as logging does with extra={"fields": ...}
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert 'target="Evil\\" op=Forged\\nINFO fake line"' in line
    assert json.loads(JsonFormatter().format(record))["target"] == fields["target"]


def test_the_json_format_is_one_object_per_line_for_every_line(
    tmp_path: Path, healthy_proxy: FakeProxy
) -> None:
    server = start_cks_server(tmp_path, extra_args=("--log-format", "json"))
    try:
        client = kms_client(server.url, unique_region())
        answer = client.describe_custom_key_stores()
        request_id = answer["ResponseMetadata"]["RequestId"]
        wait_for(lambda: request_id in server.log(), timeout=10)
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    # granian's own lines, the banner and the request log: one format.
    assert {"_granian", "kmscks.server", "kmscks.request"} <= loggers
    request = next(line for line in lines if line.get("id") == request_id)
    assert request["status"] == 200 and request["op"] == "DescribeCustomKeyStores"
    assert request["account"] == "000000000000" and isinstance(request["ms"], float)
    assert all({"time", "level", "pid", "message"} <= set(line) for line in lines)


def test_warning_level_in_capitals_turns_the_request_log_off(tmp_path: Path) -> None:
    server = start_cks_server(tmp_path, extra_args=("--log-level", "WARNING"))
    try:
        kms_client(server.url, unique_region()).describe_custom_key_stores()
    finally:
        server.stop()
    assert "kmscks.request" not in server.log()
    # No info line of anyone, granian's included (a warning under load may appear).
    assert " INFO [" not in server.log()


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "ERROR"])
def test_every_command_takes_log_levels_in_any_case(tmp_path: Path, level: str) -> None:
    for command in ("serve", "xks-proxy"):
        # A missing config file is reported after the options were accepted.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "kmscks",
                command,
                "--log-level",
                level,
                "--config",
                str(tmp_path / "missing.toml"),
                "--port",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert "invalid choice" not in result.stderr
        assert "missing.toml" in result.stderr


def test_a_traceback_stays_inside_its_line_in_json_and_follows_it_in_text() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("kmscks.api.handler", logging.ERROR, "", 0, "failed", None, exc_info)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "ERROR" and "RuntimeError: boom" in parsed["exception"]
    text = TextFormatter().format(record)
    assert text.splitlines()[0].endswith(
        "ERROR [" + str(record.process) + "] kmscks.api.handler: failed"
    )
    assert "RuntimeError: boom" in text
