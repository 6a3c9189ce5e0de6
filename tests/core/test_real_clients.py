"""Real clients other than boto3: the AWS CLI v2 (Debian's awscli) and the AWS SDK for
JavaScript v3 (@aws-sdk/client-kms from npm), against a live server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import require, require_executable
from tests.helpers.clients import aws_cli_env, kms_client, xks_params
from tests.helpers.server import ServerProcess

JS_DIR = Path(__file__).resolve().parents[1] / "js"


def run_aws(
    aws: str, server: ServerProcess, region: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = aws_cli_env(region, tmp_path)
    return subprocess.run(
        [aws, "kms", *args, "--endpoint-url", server.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_aws_cli_describes_stores(
    aws_cli: str, server: ServerProcess, region: str, tmp_path: Path
) -> None:
    kms = kms_client(server.url, region)
    ids = [
        kms.create_custom_key_store(**xks_params(f"cli-{i}"))["CustomKeyStoreId"] for i in range(3)
    ]
    result = run_aws(
        aws_cli, server, region, tmp_path, "describe-custom-key-stores", "--page-size", "2"
    )
    assert result.returncode == 0, result.stderr
    stores = json.loads(result.stdout)["CustomKeyStores"]
    assert [s["CustomKeyStoreId"] for s in stores] == ids
    assert stores[0]["CreationDate"].endswith("+00:00")  # a number on the wire, ISO in the CLI
    assert stores[0]["XksProxyConfiguration"]["UriEndpoint"] == "https://xks.example.test"
    missing = run_aws(
        aws_cli,
        server,
        region,
        tmp_path,
        "describe-custom-key-stores",
        "--custom-key-store-name",
        "nope",
    )
    assert missing.returncode == 254
    assert "An error occurred (CustomKeyStoreNotFoundException) when calling the" in missing.stderr
    query = run_aws(
        aws_cli,
        server,
        region,
        tmp_path,
        "describe-custom-key-stores",
        "--query",
        "CustomKeyStores[].CustomKeyStoreName",
        "--output",
        "text",
    )
    assert query.stdout.split() == ["cli-0", "cli-1", "cli-2"]


def test_aws_cli_runs_the_other_operations(
    aws_cli: str, server: ServerProcess, region: str, tmp_path: Path
) -> None:
    params = xks_params("cli-full")
    credential = params["XksProxyAuthenticationCredential"]
    created = run_aws(
        aws_cli,
        server,
        region,
        tmp_path,
        "create-custom-key-store",
        "--custom-key-store-name",
        "cli-full",
        "--custom-key-store-type",
        "EXTERNAL_KEY_STORE",
        "--xks-proxy-connectivity",
        "PUBLIC_ENDPOINT",
        "--xks-proxy-uri-endpoint",
        params["XksProxyUriEndpoint"],
        "--xks-proxy-uri-path",
        params["XksProxyUriPath"],
        "--xks-proxy-authentication-credential",
        f"AccessKeyId={credential['AccessKeyId']},RawSecretAccessKey={credential['RawSecretAccessKey']}",
    )
    assert created.returncode == 0, created.stderr
    store_id = json.loads(created.stdout)["CustomKeyStoreId"]
    for args in (
        (
            "update-custom-key-store",
            "--custom-key-store-id",
            store_id,
            "--new-custom-key-store-name",
            "renamed",
        ),
        ("connect-custom-key-store", "--custom-key-store-id", store_id),
    ):
        result = run_aws(aws_cli, server, region, tmp_path, *args)
        assert (result.returncode, result.stdout.strip()) == (0, ""), result.stderr


def run_node(script: str, server: ServerProcess, region: str) -> Any:
    node = require_executable("node")
    require(
        (JS_DIR / "node_modules" / "@aws-sdk" / "client-kms").exists(),
        "@aws-sdk/client-kms (make node-deps)",
    )
    result = subprocess.run(
        [node, str(JS_DIR / script), server.url, region],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=JS_DIR,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_javascript_sdk_creates_describes_and_paginates(server: ServerProcess, region: str) -> None:
    answer = run_node("kms_walk.mjs", server, region)
    assert answer["created"] == 5
    assert answer["paged"] == answer["ids"]
    assert answer["pages"] == 3
    assert answer["notFound"] == "CustomKeyStoreNotFoundException"
    assert isinstance(answer["creationDateIsDate"], bool) and answer["creationDateIsDate"]


def test_javascript_sdk_encrypts_and_decrypts(server: ServerProcess, region: str) -> None:
    answer = run_node("kms_crypto.mjs", server, region)
    assert answer["origin"] == "AWS_KMS"
    assert answer["keyArn"].startswith(f"arn:aws:kms:{region}:")
    assert answer["encryptKeyId"] == answer["keyArn"]
    assert answer["decryptKeyId"] == answer["keyArn"]  # found from the ciphertext alone
    assert answer["algorithm"] == "SYMMETRIC_DEFAULT"
    assert answer["plaintextIsBytes"] is True
    assert answer["plaintextMatches"] is True
    assert answer["ciphertextLength"] > 0
    assert answer["wrongContext"] == "InvalidCiphertextException"
