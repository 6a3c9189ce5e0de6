"""Keys through other real clients: the AWS CLI v2 walk (create-key, describe-key, list-keys,
aliases, deletion) and the read-back sequence Terraform's aws_kms_key makes (contract §11),
replayed with boto3."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.helpers.clients import aws_cli_env
from tests.helpers.server import ServerProcess
from tests.keys.conftest import ExternalStore


def test_aws_cli_walk(aws_cli: str, server: ServerProcess, region: str, tmp_path: Path) -> None:
    env = aws_cli_env(region, tmp_path)

    def aws(*args: str) -> Any:
        result = subprocess.run(
            [aws_cli, "kms", *args, "--endpoint-url", server.url, "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    created = aws("create-key", "--description", "from the CLI", "--tags", "TagKey=k,TagValue=v")
    metadata = created["KeyMetadata"]
    key_id = metadata["KeyId"]
    assert metadata["Description"] == "from the CLI"
    assert metadata["KeyState"] == "Enabled"
    described = aws("describe-key", "--key-id", key_id)["KeyMetadata"]
    assert described["Arn"] == metadata["Arn"]
    # The CLI prints dates as ISO text; both answers agree.
    assert described["CreationDate"] == metadata["CreationDate"]
    aws("create-alias", "--alias-name", "alias/cli", "--target-key-id", key_id)
    assert aws("describe-key", "--key-id", "alias/cli")["KeyMetadata"]["KeyId"] == key_id
    listed = aws("list-keys")
    assert listed["Keys"] == [{"KeyId": key_id, "KeyArn": metadata["Arn"]}]
    assert [a["AliasName"] for a in aws("list-aliases", "--key-id", key_id)["Aliases"]] == [
        "alias/cli"
    ]
    assert aws("list-resource-tags", "--key-id", key_id)["Tags"] == [
        {"TagKey": "k", "TagValue": "v"}
    ]
    aws("disable-key", "--key-id", key_id)
    assert aws("describe-key", "--key-id", key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    scheduled = aws("schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["KeyId"] == metadata["Arn"]
    assert aws("cancel-key-deletion", "--key-id", key_id) == {"KeyId": metadata["Arn"]}
    # More than one page: the CLI follows NextMarker itself.
    more = [aws("create-key")["KeyMetadata"]["KeyId"] for _ in range(3)]
    walked = aws("list-keys", "--page-size", "2")
    assert [entry["KeyId"] for entry in walked["Keys"]] == [key_id, *more]


def test_terraform_read_back_and_destroy(kms: Any) -> None:
    """What aws_kms_key does: create, read back, then destroy by scheduling deletion and
    polling DescribeKey until the state is neither Enabled nor Disabled."""
    created = kms.create_key(
        Description="tf",
        KeySpec="SYMMETRIC_DEFAULT",
        KeyUsage="ENCRYPT_DECRYPT",
        Tags=[{"TagKey": "Name", "TagValue": "tf"}],
        BypassPolicyLockoutSafetyCheck=False,
    )["KeyMetadata"]
    key_id = created["KeyId"]
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeySpec"] == "SYMMETRIC_DEFAULT"
    policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    assert json.loads(policy)["Statement"]
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "Name", "TagValue": "tf"}]
    # Terraform reads the rotation status of AWS_KMS keys only.
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    state = kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
    assert state not in ("Enabled", "Disabled")
    try:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    except ClientError as raised:
        # Terraform treats exactly this answer as "already deleting".
        assert raised.response["Error"]["Code"] == "KMSInvalidStateException"
        assert raised.response["Error"]["Message"].endswith("is pending deletion.")
    else:
        raise AssertionError("a second ScheduleKeyDeletion must fail")


def test_aws_cli_creates_a_key_in_an_external_key_store(
    aws_cli: str, keys_server: ServerProcess, xks_store: ExternalStore, tmp_path: Path
) -> None:
    env = aws_cli_env(xks_store.region, tmp_path)
    command = [aws_cli, "kms", "--endpoint-url", keys_server.url, "--output", "json"]

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    create = ("create-key", "--origin", "EXTERNAL_KEY_STORE", "--custom-key-store-id")
    created = aws(*create, xks_store.id, "--xks-key-id", "aes-from-the-cli")
    assert created.returncode == 0, created.stderr
    metadata = json.loads(created.stdout)["KeyMetadata"]
    assert metadata["XksKeyConfiguration"] == {"Id": "aes-from-the-cli"}
    described = aws("describe-key", "--key-id", metadata["Arn"])
    assert json.loads(described.stdout)["KeyMetadata"]["CustomKeyStoreId"] == xks_store.id
    refused = aws(*create, xks_store.id, "--xks-key-id", "aes-from-the-cli")
    assert refused.returncode == 254
    assert "XksKeyAlreadyInUseException" in refused.stderr
