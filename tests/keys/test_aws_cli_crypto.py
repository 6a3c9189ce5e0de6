"""The AWS CLI v2 (/usr/bin/aws) through the key and crypto operations, read the way a user
reads them: files in, files out through `--query ... --output text | base64 -d`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.clients import aws_cli_env, unique_region
from tests.helpers.server import ServerProcess
from tests.keys.conftest import ExternalStore


class Cli:
    """`aws kms ...` in a clean environment, in a region of its own, in a working directory."""

    def __init__(self, aws: str, server: ServerProcess, region: str, cwd: Path) -> None:
        self.aws = aws
        self.url = server.url
        self.cwd = cwd
        self.env = aws_cli_env(region, cwd)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.aws, "kms", *args, "--endpoint-url", self.url],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=60,
            check=False,
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def shell(self, script: str) -> subprocess.CompletedProcess[bytes]:
        """A pipeline as a user types it; `aws` is this CLI bound to the server."""
        env = {**self.env, "AWS": self.aws, "URL": self.url}
        result = subprocess.run(
            ["bash", "-c", f"set -euo pipefail; {script}"],
            capture_output=True,
            env=env,
            cwd=self.cwd,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()
        return result


def test_aws_cli_encrypts_decrypts_and_reencrypts_files(
    aws_cli: str, keys_server: ServerProcess, tmp_path: Path
) -> None:
    cli = Cli(aws_cli, keys_server, unique_region(), tmp_path)
    plaintext = os.urandom(200) + b"\n\x00 end"
    (tmp_path / "in.bin").write_bytes(plaintext)
    key = cli.json("create-key", "--description", "cli crypto")["KeyMetadata"]
    assert (key["Origin"], key["KeyState"], key["KeySpec"]) == (
        "AWS_KMS",
        "Enabled",
        "SYMMETRIC_DEFAULT",
    )
    assert key["CreationDate"].endswith("+00:00")

    cli.shell(
        '"$AWS" kms encrypt --endpoint-url "$URL" --key-id '
        + key["KeyId"]
        + " --plaintext fileb://in.bin --encryption-context purpose=cli"
        " --query CiphertextBlob --output text | base64 -d > ct.bin"
    )
    ciphertext = (tmp_path / "ct.bin").read_bytes()
    assert plaintext not in ciphertext and len(ciphertext) > len(plaintext)
    back = cli.shell(
        '"$AWS" kms decrypt --endpoint-url "$URL" --ciphertext-blob fileb://ct.bin'
        " --encryption-context purpose=cli --query Plaintext --output text | base64 -d"
    )
    assert back.stdout == plaintext
    decrypted = cli.json(
        "decrypt", "--ciphertext-blob", "fileb://ct.bin", "--encryption-context", "purpose=cli"
    )
    assert decrypted["KeyId"] == key["Arn"]
    assert decrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"

    wrong = cli.run("decrypt", "--ciphertext-blob", "fileb://ct.bin")
    assert wrong.returncode == 254
    assert "An error occurred (InvalidCiphertextException) when calling the Decrypt" in (
        wrong.stderr
    )

    second = cli.json("create-key")["KeyMetadata"]
    cli.shell(
        '"$AWS" kms re-encrypt --endpoint-url "$URL" --ciphertext-blob fileb://ct.bin'
        " --source-encryption-context purpose=cli --destination-key-id "
        + second["KeyId"]
        + " --query CiphertextBlob --output text | base64 -d > ct2.bin"
    )
    re_encrypted = cli.json(
        "decrypt", "--ciphertext-blob", "fileb://ct2.bin", "--query", "[KeyId,Plaintext]"
    )
    assert re_encrypted[0] == second["Arn"]  # the new ciphertext carries no context
    assert base64.b64decode(re_encrypted[1]) == plaintext

    data_key = cli.json("generate-data-key", "--key-id", key["Arn"], "--key-spec", "AES_256")
    assert data_key["KeyId"] == key["Arn"]
    assert len(base64.b64decode(data_key["Plaintext"])) == 32
    (tmp_path / "dk.bin").write_bytes(base64.b64decode(data_key["CiphertextBlob"]))
    unwrapped = cli.shell(
        '"$AWS" kms decrypt --endpoint-url "$URL" --ciphertext-blob fileb://dk.bin'
        " --query Plaintext --output text"
    )
    assert unwrapped.stdout.decode().strip() == data_key["Plaintext"]
    without = cli.json(
        "generate-data-key-without-plaintext", "--key-id", key["KeyId"], "--number-of-bytes", "16"
    )
    assert "Plaintext" not in without and without["KeyId"] == key["Arn"]


def test_aws_cli_creates_an_external_key_and_schedules_deletion(
    aws_cli: str, keys_server: ServerProcess, tmp_path: Path
) -> None:
    store = ExternalStore(keys_server.url)
    cli = Cli(aws_cli, keys_server, store.region, tmp_path)
    created = cli.json(
        "create-key",
        "--origin",
        "EXTERNAL_KEY_STORE",
        "--custom-key-store-id",
        store.id,
        "--xks-key-id",
        "aes-cli-1",
    )["KeyMetadata"]
    assert created["Origin"] == "EXTERNAL_KEY_STORE"
    assert created["CustomKeyStoreId"] == store.id
    described = cli.json("describe-key", "--key-id", created["KeyId"])["KeyMetadata"]
    assert described["XksKeyConfiguration"] == {"Id": "aes-cli-1"}
    assert described["KeyState"] == "Enabled"
    text = cli.run(
        "describe-key",
        "--key-id",
        created["Arn"],
        "--query",
        "KeyMetadata.[Origin,XksKeyConfiguration.Id]",
        "--output",
        "text",
    )
    assert (text.returncode, text.stdout.split()) == (0, ["EXTERNAL_KEY_STORE", "aes-cli-1"])

    scheduled = cli.json(
        "schedule-key-deletion", "--key-id", created["KeyId"], "--pending-window-in-days", "7"
    )
    assert scheduled["KeyId"] == created["Arn"]
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    state = cli.run(
        "describe-key",
        "--key-id",
        created["KeyId"],
        "--query",
        "KeyMetadata.KeyState",
        "--output",
        "text",
    )
    assert state.stdout.strip() == "PendingDeletion"
    refused = cli.run("schedule-key-deletion", "--key-id", created["KeyId"])
    assert refused.returncode == 254
    assert "KMSInvalidStateException" in refused.stderr
