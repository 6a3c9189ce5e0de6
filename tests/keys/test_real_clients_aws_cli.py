"""The AWS CLI v2 (/usr/bin/aws), and `cks kms` with the same commands, doing crypto with a
key in an external key store as a user types it: create-key with --xks-key-id, describe-key,
encrypt and decrypt files through `--query ... --output text | base64 -d`, generate-data-key,
re-encrypt, schedule-key-deletion. The commands run in a shell, pipes and all, against a live
`cks serve` and `cks xks-proxy` (test_aws_cli_crypto.py does the crypto with AWS_KMS keys; its
external key never encrypts, its proxy being a fake that only answers metadata)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.clients import aws_cli_env
from tests.keys.bundled_xks import XksSetup, bundled_xks


@pytest.fixture(scope="module")
def xks_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XksSetup]:
    with bundled_xks(tmp_path_factory.mktemp("aws-cli-crypto"), ("aws-key", "cks-key")) as setup:
        yield setup


CKS = str(Path(sys.executable).with_name("cks"))


class Shell:
    """Runs `sh -c` lines in one folder with the AWS CLI's clean environment and `$E`."""

    def __init__(self, aws_cli: str, setup: XksSetup, folder: Path) -> None:
        self.folder = folder
        self.env = {
            **aws_cli_env(setup.region, folder),
            "E": f"--endpoint-url {setup.server.url}",
            "AWS": aws_cli,
        }

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", line],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def ok(self, line: str) -> str:
        result = self.run(f"set -e; {line}")
        assert result.returncode == 0, f"{line}\n{result.stderr}"
        return result.stdout

    def json(self, line: str) -> dict[str, object]:
        return dict(json.loads(self.ok(line)))


@pytest.mark.parametrize("cli", ["aws", "cks"])
def test_cli_crypto_walk_with_an_external_key(
    cli: str, request: pytest.FixtureRequest, xks_setup: XksSetup, tmp_path: Path
) -> None:
    """The walk with /usr/bin/aws, and the same commands with `cks kms`."""
    program = request.getfixturevalue("aws_cli") if cli == "aws" else CKS
    sh = Shell(program, xks_setup, tmp_path)
    store = xks_setup.store_id
    xks_key = f"{cli}-key"

    # create-key into the external key store, and describe-key.
    arn = sh.ok(
        f"$AWS kms create-key $E --origin EXTERNAL_KEY_STORE --custom-key-store-id {store}"
        f" --xks-key-id {xks_key} --description 'my external key'"
        " --query KeyMetadata.Arn --output text"
    ).strip()
    described = sh.json(f"$AWS kms describe-key $E --key-id {arn}")["KeyMetadata"]
    assert isinstance(described, dict)
    assert described["Origin"] == "EXTERNAL_KEY_STORE"
    assert described["CustomKeyStoreId"] == store
    assert described["XksKeyConfiguration"] == {"Id": xks_key}
    assert described["KeyState"] == "Enabled"
    assert described["Description"] == "my external key"

    # encrypt a file, decrypt it without naming the key.
    plaintext = os.urandom(1000) + b"\n\x00 the end"
    (tmp_path / "in.bin").write_bytes(plaintext)
    sh.ok(
        f"$AWS kms encrypt $E --key-id {arn} --plaintext fileb://in.bin"
        " --encryption-context purpose=walk"
        " --query CiphertextBlob --output text | base64 -d > ct.bin"
    )
    ciphertext = (tmp_path / "ct.bin").read_bytes()
    assert plaintext not in ciphertext
    sh.ok(
        "$AWS kms decrypt $E --ciphertext-blob fileb://ct.bin --encryption-context purpose=walk"
        " --query Plaintext --output text | base64 -d > out.bin"
    )
    assert (tmp_path / "out.bin").read_bytes() == plaintext
    # decrypt answers the key's ARN; a wrong context is refused: for an external key the proxy
    # finds the authenticated data wrong, and KMS passes that on (contract §8.4, §9.3).
    assert (
        sh.ok(
            "$AWS kms decrypt $E --ciphertext-blob fileb://ct.bin"
            " --encryption-context purpose=walk --query KeyId --output text"
        ).strip()
        == arn
    )
    wrong = sh.run(
        "$AWS kms decrypt $E --ciphertext-blob fileb://ct.bin --encryption-context purpose=other"
    )
    assert wrong.returncode == 254
    assert wrong.stderr.strip() == (
        "An error occurred (KMSInvalidStateException) when calling the Decrypt operation: The"
        " external key store proxy rejected the request because the specified ciphertext or"
        " additional authenticated data is corrupted, missing, or otherwise invalid."
    )

    # generate-data-key: the plaintext data key is what its ciphertext decrypts to.
    pair = sh.json(f"$AWS kms generate-data-key $E --key-id {arn} --key-spec AES_256")
    assert pair["KeyId"] == arn
    (tmp_path / "dk.txt").write_text(str(pair["CiphertextBlob"]))
    sh.ok("base64 -d dk.txt > dk.bin")
    data_key = sh.ok(
        "$AWS kms decrypt $E --ciphertext-blob fileb://dk.bin --query Plaintext --output text"
    ).strip()
    assert data_key == pair["Plaintext"]
    without = sh.json(
        f"$AWS kms generate-data-key-without-plaintext $E --key-id {arn} --number-of-bytes 64"
    )
    assert set(without) == {"CiphertextBlob", "KeyId"}

    # re-encrypt to a standard key and back; the file still decrypts to the plaintext.
    standard = sh.ok("$AWS kms create-key $E --query KeyMetadata.Arn --output text").strip()
    sh.ok(
        "$AWS kms re-encrypt $E --ciphertext-blob fileb://ct.bin"
        f" --source-encryption-context purpose=walk --destination-key-id {standard}"
        " --query CiphertextBlob --output text | base64 -d > moved.bin"
    )
    sh.ok(
        f"$AWS kms re-encrypt $E --ciphertext-blob fileb://moved.bin --destination-key-id {arn}"
        " --destination-encryption-context purpose=back"
        " --query CiphertextBlob --output text | base64 -d > back.bin"
    )
    sh.ok(
        "$AWS kms decrypt $E --ciphertext-blob fileb://back.bin --encryption-context purpose=back"
        " --query Plaintext --output text | base64 -d > again.bin"
    )
    assert (tmp_path / "again.bin").read_bytes() == plaintext

    # schedule-key-deletion: PendingDeletion, and its ciphertexts are refused from then on.
    scheduled = sh.json(
        f"$AWS kms schedule-key-deletion $E --key-id {arn} --pending-window-in-days 7"
    )
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    state = sh.ok(f"$AWS kms describe-key $E --key-id {arn} --query KeyMetadata.KeyState")
    assert json.loads(state) == "PendingDeletion"
    refused = sh.run(
        "$AWS kms decrypt $E --ciphertext-blob fileb://ct.bin --encryption-context purpose=walk"
    )
    assert refused.returncode == 254
    assert refused.stderr.strip() == (
        "An error occurred (KMSInvalidStateException) when calling the Decrypt operation: "
        f"{arn} is pending deletion."
    )
