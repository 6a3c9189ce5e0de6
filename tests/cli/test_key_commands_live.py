"""The key commands of `aws kms` and `cks kms` against a live `cks serve`.

The keys live in a region of their own (no other test lists it), created with boto3. Reads
and errors print the same bytes from both CLIs; crypto answers differ run by run (fresh IVs),
so a ciphertext made by one CLI is decrypted by the other; state changes run on two keys in the
same state, one per CLI, compared with the key ids replaced.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import (
    LiveServer,
    Result,
    Runners,
    as_cks,
    base_env,
    case,
    compare_cases,
    describe_difference,
)
from tests.helpers.clients import kms_client

REGION = "eu-central-1"
FORMATS = ("json", "text", "table", "yaml", "yaml-stream")
MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def keys(live_server: LiveServer) -> dict[str, str]:
    client = kms_client(live_server.url, region=REGION)
    created = {}
    for name in ("read", "aws", "cks"):
        metadata = client.create_key(
            Description="cli read é" if name == "read" else "cli state é",
            Tags=[{"TagKey": "owner", "TagValue": name}, {"TagKey": "team", "TagValue": "cli"}],
        )["KeyMetadata"]
        created[name] = str(metadata["KeyId"])
    client.create_alias(AliasName="alias/cli-read", TargetKeyId=created["read"])
    return created


def test_reads_and_errors_match_aws(
    runners: Runners, cli_home: Path, live_server: LiveServer, keys: dict[str, str], tmp_path: Path
) -> None:
    e = ("--endpoint-url", live_server.url, "--region", REGION)
    read = keys["read"]
    (tmp_path / "garbage.bin").write_bytes(b"\x01" * 80)
    cases = [case("describe-key", *e, "--key-id", read, "--output", fmt) for fmt in FORMATS]
    cases += [case("list-keys", *e, "--output", fmt) for fmt in FORMATS]
    cases += [case("list-aliases", *e, "--output", fmt) for fmt in FORMATS]
    cases += [
        case("describe-key", *e, "--key-id", "alias/cli-read", "--output", "text"),
        case("list-keys", *e, "--page-size", "1", "--max-items", "2", "--output", "text"),
        case("list-aliases", *e, "--key-id", read, "--output", "table"),
        case("get-key-policy", *e, "--key-id", read, "--output", "yaml"),
        case("get-key-policy", *e, "--key-id", read, "--query", "Policy", "--output", "text"),
        case("list-key-policies", *e, "--key-id", read),
        case("list-resource-tags", *e, "--key-id", read, "--output", "table"),
        case("list-resource-tags", *e, "--key-id", read, "--page-size", "1", "--max-items", "1"),
        case("encrypt", *e, "--key-id", read, "--plaintext", "aGk=", "--query", "KeyId"),
        case("generate-data-key", *e, "--key-id", "alias/cli-read", "--key-spec", "AES_256",
             "--query", "[KeyId, length(Plaintext)]", "--output", "text"),
        case("generate-random", *e, "--number-of-bytes", "16", "--query", "length(Plaintext)"),
        # errors: the service's and the CLI's
        case("describe-key", *e, "--key-id", MISSING),
        case("describe-key", *e, "--key-id", "alias/none"),
        case("decrypt", *e, "--ciphertext-blob", "fileb://garbage.bin"),
        case("encrypt", *e, "--key-id", read, "--plaintext", "not base64!"),
        case("encrypt", *e, "--key-id", read, "--plaintext", "aGk=", "--encryption-algorithm",
             "NOPE"),
        case("encrypt", *e, "--key-id", read, "--plaintext", ""),
        case("generate-data-key", *e, "--key-id", read, "--key-spec", "AES_256",
             "--number-of-bytes", "32"),
        case("generate-random", *e, "--number-of-bytes", "2000"),
        case("schedule-key-deletion", *e, "--key-id", read, "--pending-window-in-days", "3"),
        case("create-alias", *e, "--alias-name", "nope", "--target-key-id", read),
        case("create-alias", *e, "--alias-name", "alias/cli-read", "--target-key-id", read),
        case("create-key", *e, "--key-spec", "NOPE"),
        case("cancel-key-deletion", *e, "--key-id", read),
        case("list-keys", *e, "--starting-token", "garbage"),
    ]  # fmt: skip
    diffs = compare_cases(runners, cases, cli_home, cwd=tmp_path)
    assert not diffs, "".join(diffs)


def _run(runners: Runners, program: str, args: list[str], cwd: Path, home: Path) -> Result:
    env = base_env(home)
    if program == "aws":
        return as_cks(runners.aws(["kms", *args], env, cwd))
    return runners.cks(["kms", *args], env, cwd)


@pytest.mark.parametrize(("encrypting", "decrypting"), [("aws", "cks"), ("cks", "aws")])
def test_ciphertexts_of_one_cli_decrypt_with_the_other(
    encrypting: str,
    decrypting: str,
    runners: Runners,
    cli_home: Path,
    live_server: LiveServer,
    keys: dict[str, str],
    tmp_path: Path,
) -> None:
    e = ["--endpoint-url", live_server.url, "--region", REGION]
    secret = b"\x00top secret\xff\n"
    (tmp_path / "secret.bin").write_bytes(secret)
    context = ["--encryption-context", "purpose=test,owner=Zoë"]
    made = _run(runners, encrypting, ["encrypt", *e, "--key-id", "alias/cli-read",
                "--plaintext", "fileb://secret.bin", *context, "--query", "CiphertextBlob",
                "--output", "text"], tmp_path, cli_home)  # fmt: skip
    assert made.rc == 0, made
    (tmp_path / "ct.bin").write_bytes(base64.b64decode(made.stdout))
    again = _run(runners, decrypting, ["re-encrypt", *e, "--ciphertext-blob", "fileb://ct.bin",
                 "--source-encryption-context", "purpose=test,owner=Zoë", "--destination-key-id",
                 keys["read"], "--destination-encryption-context", "purpose=test,owner=Zoë",
                 "--query", "CiphertextBlob", "--output", "text"],
                 tmp_path, cli_home)  # fmt: skip
    assert again.rc == 0, again
    (tmp_path / "ct2.bin").write_bytes(base64.b64decode(again.stdout))
    opened = _run(runners, encrypting, ["decrypt", *e, "--ciphertext-blob", "fileb://ct2.bin",
                  *context, "--query", "Plaintext", "--output", "text"],
                  tmp_path, cli_home)  # fmt: skip
    assert opened.rc == 0, opened
    assert base64.b64decode(opened.stdout) == secret
    wrong = _run(runners, decrypting, ["decrypt", *e, "--ciphertext-blob", "fileb://ct.bin"],
                 tmp_path, cli_home)  # fmt: skip
    assert wrong.rc == 254 and b"InvalidCiphertextException" in wrong.stderr


def test_state_changes_match_aws(
    runners: Runners, cli_home: Path, live_server: LiveServer, keys: dict[str, str], tmp_path: Path
) -> None:
    """The same sequence on two keys in the same state, one per CLI."""
    e = ["--endpoint-url", live_server.url, "--region", REGION]
    steps: list[list[str]] = [
        ["disable-key", *e, "--key-id", "{key}"],
        ["describe-key", *e, "--key-id", "{key}", "--output", "text", "--query",
         "KeyMetadata.[KeyState, Enabled, Description, Origin, KeyManager]"],
        ["encrypt", *e, "--key-id", "{key}", "--plaintext", "aGk="],
        ["enable-key", *e, "--key-id", "{key}"],
        ["update-key-description", *e, "--key-id", "{key}", "--description", "now ü"],
        ["tag-resource", *e, "--key-id", "{key}", "--tags", "TagKey=a,TagValue=1",
         "TagKey=b,TagValue=2"],
        ["untag-resource", *e, "--key-id", "{key}", "--tag-keys", "owner", "b"],
        ["list-resource-tags", *e, "--key-id", "{key}", "--output", "text"],
        ["create-alias", *e, "--alias-name", "alias/state-{cli}", "--target-key-id", "{key}"],
        ["update-alias", *e, "--alias-name", "alias/state-{cli}", "--target-key-id", "{key}"],
        ["list-aliases", *e, "--key-id", "{key}", "--query", "Aliases[].AliasName"],
        ["delete-alias", *e, "--alias-name", "alias/state-{cli}"],
        ["schedule-key-deletion", *e, "--key-id", "{key}", "--pending-window-in-days", "7",
         "--query", "[KeyId, KeyState, PendingWindowInDays]", "--output", "text"],
        ["describe-key", *e, "--key-id", "{key}", "--query", "KeyMetadata.[KeyState,Enabled]"],
        ["enable-key", *e, "--key-id", "{key}"],
        ["cancel-key-deletion", *e, "--key-id", "{key}", "--output", "yaml"],
        ["describe-key", *e, "--key-id", "{key}", "--query", "KeyMetadata.KeyState"],
    ]  # fmt: skip
    diffs = []
    for step in steps:
        results: dict[str, Any] = {}
        for cli in ("aws", "cks"):
            args = [part.format(key=keys[cli], cli=cli) for part in step]
            result = _run(runners, cli, args, tmp_path, cli_home)
            results[cli] = Result(
                result.stdout.replace(keys[cli].encode(), b"KEY").replace(b"-" + cli.encode(), b""),
                result.stderr.replace(keys[cli].encode(), b"KEY").replace(b"-" + cli.encode(), b""),
                result.rc,
            )
        if results["aws"] != results["cks"]:
            diffs.append(describe_difference(" ".join(step), results["aws"], results["cks"]))
    assert not diffs, "".join(diffs)
