"""argv -> request: every option of every operation lands in the body exactly as `aws` sends it.

The canned endpoint records each request; bodies are compared as bytes (botocore's
json.dumps with default separators, members in the order the AWS CLI builds them) and the
SigV4 signature is checked with the project's verifier.
"""

# ruff: noqa: E501  (CASES is a table: one operation's argv and bodies per row)
from __future__ import annotations

import json
from typing import Any

import pytest

from kmscks.sigv4 import verify
from tests.cli.stub_kms import StubKMS

CRED = "AccessKeyId=ABCDEFGHIJKLMNOPQRST,RawSecretAccessKey=" + "s" * 43
CRED_JSON = '{"AccessKeyId": "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey": "' + "s" * 43 + '"}'
CRED_VALUE = {"AccessKeyId": "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey": "s" * 43}


def _bodies(stub: StubKMS) -> list[Any]:
    return [json.loads(r["body"]) for r in stub.state.requests]


CASES: list[tuple[list[str], list[dict[str, Any]]]] = [
    (["describe-custom-key-stores"], [{}]),
    (["describe-custom-key-stores", "--custom-key-store-id", "cks-1"], [{"CustomKeyStoreId": "cks-1"}]),
    (["describe-custom-key-stores", "--custom-key-store-name", "hsm-two"], [{"CustomKeyStoreName": "hsm-two"}]),
    (
        ["describe-custom-key-stores", "--custom-key-store-name", "plain", "--custom-key-store-id", "cks-0cccccccccccccccc"],
        [{"CustomKeyStoreId": "cks-0cccccccccccccccc", "CustomKeyStoreName": "plain"}],
    ),
    (["describe-custom-key-stores", "--limit", "3"], [{"Limit": 3}]),
    (["describe-custom-key-stores", "--marker", "b2Zmc2V0OjI="], [{"Marker": "b2Zmc2V0OjI="}]),
    (
        ["describe-custom-key-stores", "--page-size", "2"],
        [{"Limit": 2}, {"Limit": 2, "Marker": "b2Zmc2V0OjI="}, {"Limit": 2, "Marker": "b2Zmc2V0OjQ="}],
    ),
    (["describe-custom-key-stores", "--max-items", "1"], [{}]),
    (
        ["describe-custom-key-stores", "--starting-token", "eyJNYXJrZXIiOiAiYjJabWMyVjBPakk9In0=", "--page-size", "3"],
        [{"Marker": "b2Zmc2V0OjI=", "Limit": 3}],
    ),
    (["describe-custom-key-stores", "--starting-token", "garbage"], [{"Marker": "garbage"}]),
    (
        ["describe-custom-key-stores", "--cli-input-json", '{"CustomKeyStoreName": "hsm-two", "Limit": 1}', "--custom-key-store-id", "cks-0bbbbbbbbbbbbbbbb"],
        [{"CustomKeyStoreId": "cks-0bbbbbbbbbbbbbbbb", "CustomKeyStoreName": "hsm-two", "Limit": 1}],
    ),
    (["describe-custom-key-stores", "--cli-input-yaml", "CustomKeyStoreName: plain"], [{"CustomKeyStoreName": "plain"}]),
    (
        [
            "create-custom-key-store", "--custom-key-store-name", "n", "--cloud-hsm-cluster-id", "cluster-234abcdefABC",
            "--trust-anchor-certificate", "PEM", "--key-store-password", "kmsPswd1", "--custom-key-store-type", "AWS_CLOUDHSM",
        ],
        [{"CustomKeyStoreName": "n", "CloudHsmClusterId": "cluster-234abcdefABC", "TrustAnchorCertificate": "PEM", "KeyStorePassword": "kmsPswd1", "CustomKeyStoreType": "AWS_CLOUDHSM"}],
    ),
    (
        [
            "create-custom-key-store", "--xks-proxy-connectivity", "VPC_ENDPOINT_SERVICE", "--custom-key-store-name", "x",
            "--custom-key-store-type", "EXTERNAL_KEY_STORE", "--xks-proxy-uri-endpoint", "https://h.example",
            "--xks-proxy-uri-path", "/kms/xks/v1", "--xks-proxy-vpc-endpoint-service-name", "com.amazonaws.vpce.us-east-1.vpce-svc-1",
            "--xks-proxy-vpc-endpoint-service-owner", "111122223333", "--xks-proxy-authentication-credential", CRED,
        ],
        [{
            "CustomKeyStoreName": "x", "CustomKeyStoreType": "EXTERNAL_KEY_STORE", "XksProxyUriEndpoint": "https://h.example",
            "XksProxyUriPath": "/kms/xks/v1", "XksProxyVpcEndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-1",
            "XksProxyVpcEndpointServiceOwner": "111122223333", "XksProxyAuthenticationCredential": CRED_VALUE,
            "XksProxyConnectivity": "VPC_ENDPOINT_SERVICE",
        }],
    ),
    (
        ["create-custom-key-store", "--custom-key-store-name", "x", "--xks-proxy-authentication-credential", CRED_JSON],
        [{"CustomKeyStoreName": "x", "XksProxyAuthenticationCredential": CRED_VALUE}],
    ),
    (
        [
            "update-custom-key-store", "--custom-key-store-id", "cks-1", "--new-custom-key-store-name", "m",
            "--key-store-password", "kmsPswd2", "--cloud-hsm-cluster-id", "cluster-234abcdefABD",
            "--xks-proxy-uri-endpoint", "https://e.example", "--xks-proxy-uri-path", "/p/kms/xks/v1",
            "--xks-proxy-vpc-endpoint-service-name", "com.amazonaws.vpce.us-east-1.vpce-svc-2",
            "--xks-proxy-vpc-endpoint-service-owner", "000000000000",
            "--xks-proxy-authentication-credential", CRED, "--xks-proxy-connectivity", "PUBLIC_ENDPOINT",
        ],
        [{
            "CustomKeyStoreId": "cks-1", "NewCustomKeyStoreName": "m", "KeyStorePassword": "kmsPswd2",
            "CloudHsmClusterId": "cluster-234abcdefABD", "XksProxyUriEndpoint": "https://e.example",
            "XksProxyUriPath": "/p/kms/xks/v1", "XksProxyVpcEndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-2",
            "XksProxyVpcEndpointServiceOwner": "000000000000", "XksProxyAuthenticationCredential": CRED_VALUE,
            "XksProxyConnectivity": "PUBLIC_ENDPOINT",
        }],
    ),
    (["connect-custom-key-store", "--custom-key-store-id", "cks-1"], [{"CustomKeyStoreId": "cks-1"}]),
    (["disconnect-custom-key-store", "--custom-key-store-id", "cks-1"], [{"CustomKeyStoreId": "cks-1"}]),
    (["delete-custom-key-store", "--custom-key-store-id", "cks-1"], [{"CustomKeyStoreId": "cks-1"}]),
    (["connect-custom-key-store", "--cli-input-json", '{"CustomKeyStoreId": "cks-2"}'], [{"CustomKeyStoreId": "cks-2"}]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "bodies"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_body(args: list[str], bodies: list[dict[str, Any]], cks: Any, fresh_stub: StubKMS) -> None:
    result = cks([*args, "--endpoint-url", fresh_stub.url])
    assert result.rc in (0, 254), result  # 254: the stub knows no store "cks-1"
    recorded = [r["body"] for r in fresh_stub.state.requests]
    # Compared as bytes: member order and botocore's separators, not just equal dicts.
    assert recorded == [json.dumps(body).encode() for body in bodies]
    operation = "".join(part.title() for part in args[0].split("-"))
    assert {r["target"] for r in fresh_stub.state.requests} == {f"TrentService.{operation}"}


def test_file_parameters_are_read(cks: Any, fresh_stub: StubKMS, tmp_path: Any) -> None:
    pem = tmp_path / "anchor.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n")
    result = cks(["create-custom-key-store", "--endpoint-url", fresh_stub.url, "--custom-key-store-name", "n",
                  "--trust-anchor-certificate", f"file://{pem}"])  # fmt: skip
    assert result.rc == 0
    assert _bodies(fresh_stub) == [
        {"CustomKeyStoreName": "n", "TrustAnchorCertificate": pem.read_text()}
    ]


def test_file_values_follow_aws_cli_file_encoding(
    cks: Any, fresh_stub: StubKMS, tmp_path: Any
) -> None:
    # aws-cli 2.33.31 reads file:// text in AWS_CLI_FILE_ENCODING when it is set (compat.py).
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    args = [
        "create-key",
        "--endpoint-url",
        fresh_stub.url,
        "--description",
        f"file://{tmp_path}/latin1.txt",
    ]
    assert cks(args, AWS_CLI_FILE_ENCODING="latin-1").rc == 0
    assert _bodies(fresh_stub) == [{"Description": "caf\xe9"}]
    assert b"text contents could not be decoded" in cks(args).stderr


def test_shorthand_file_assignment_reads_files(
    cks: Any, fresh_stub: StubKMS, tmp_path: Any
) -> None:
    # `key@=file://path` in shorthand (checked against aws-cli 2.33.31; 2.9.19 has no `@=`):
    # the file's text replaces the value, and a plain value after `@=` is kept as is.
    (tmp_path / "value.txt").write_text("from a file\n")
    result = cks(["tag-resource", "--endpoint-url", fresh_stub.url, "--key-id", "k", "--tags",
                  f"TagKey=a,TagValue@=file://{tmp_path}/value.txt", "TagKey=b,TagValue @= plain"])  # fmt: skip
    assert result.rc == 0, result.stderr
    assert _bodies(fresh_stub) == [
        {"KeyId": "k", "Tags": [{"TagKey": "a", "TagValue": "from a file\n"},
                                {"TagKey": "b", "TagValue": "plain"}]}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("file://missing.txt", "Unable to load paramfile file://missing.txt: [Errno 2] No such "
                               "file or directory: 'missing.txt'"),
        ("file://bad.txt", "Unable to load paramfile (bad.txt), text contents could not be decoded.  "
                           "If this is a binary file, please use the fileb:// prefix instead of "
                           "the file:// prefix."),
    ],
)  # fmt: skip
def test_shorthand_file_assignment_errors_are_general_errors(
    cks: Any, fresh_stub: StubKMS, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
    value: str, message: str,
) -> None:  # fmt: skip
    # aws-cli 2.33.31 does not wrap these in "Error parsing parameter": exit 255, not 252.
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe")
    monkeypatch.chdir(tmp_path)
    result = cks(["tag-resource", "--endpoint-url", fresh_stub.url, "--key-id", "k", "--tags",
                  f"TagKey=a,TagValue@={value}"])  # fmt: skip
    assert (result.rc, result.stdout, result.stderr) == (255, b"", f"\n{message}\n".encode())
    assert fresh_stub.state.requests == []


def test_requests_are_signed_with_sigv4(cks: Any, fresh_stub: StubKMS) -> None:
    result = cks(["describe-custom-key-stores", "--endpoint-url", fresh_stub.url, "--region", "eu-central-1"],
                 AWS_SESSION_TOKEN="session-token")  # fmt: skip
    assert result.rc == 0
    request = fresh_stub.state.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert headers["x-amz-security-token"] == "session-token"
    assert "/eu-central-1/kms/aws4_request" in headers["authorization"]
    identity = verify(
        method="POST", path="/", query="", headers=headers, body=request["body"], service="kms",
        secret_for=lambda key: "test" if key == "test" else None,
        now=__import__("time").time(), max_skew_seconds=300,
    )  # fmt: skip
    assert identity.region == "eu-central-1"


def test_no_sign_request_sends_no_authorization(cks: Any, fresh_stub: StubKMS) -> None:
    assert (
        cks(
            ["describe-custom-key-stores", "--endpoint-url", fresh_stub.url, "--no-sign-request"]
        ).rc
        == 0
    )
    assert "Authorization" not in fresh_stub.state.requests[0]["headers"]


def test_endpoint_base_path_is_kept(cks: Any, fresh_stub: StubKMS) -> None:
    url = fresh_stub.url + "/base"
    assert (
        cks(["connect-custom-key-store", "--endpoint-url", url, "--custom-key-store-id", "x"]).rc
        == 0
    )
    assert fresh_stub.state.requests[0]["path"] == "/base/"
