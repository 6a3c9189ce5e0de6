"""`aws kms` and `cks kms` print the same bytes and exit codes for the commands on KMS keys.

Against the canned endpoint (stub_kms_keys.py: keys in CloudHSM and external key stores,
aliases, a multi-line policy, tags, grants, `ct:`-prefixed "ciphertexts"), every key command
runs through both CLIs: blob input in both binary formats and from files, blob and timestamp
output in every format, maps, booleans, lists of strings and of structures, integers, the
paginated listings, and the client-side errors (missing option, bad base64, bad integer) next
to the service's (bad enum value, unknown key, unsupported operation).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.cli.conftest import Case, Runners, case, compare_cases
from tests.cli.stub_kms import StubKMS
from tests.cli.stub_kms_keys import KEY_IDS, POLICY

FORMATS = ("json", "text", "table", "yaml", "yaml-stream")
HSM_KEY, XKS_KEY, DISABLED_KEY, PENDING_KEY, UNAVAILABLE_KEY = KEY_IDS
HELLO = base64.b64encode(b"hello").decode()
CIPHERTEXT = base64.b64encode(b"ct:hello").decode()


def _blob_cases(url: str, tmp: Path) -> list[Case]:
    e = ("--endpoint-url", url)
    (tmp / "plain.bin").write_bytes(b"\x00\xffbinary\n")
    (tmp / "plain.b64").write_text(HELLO)
    (tmp / "ct.bin").write_bytes(b"ct:hello")
    (tmp / "bad-ct.bin").write_bytes(b"garbage")
    (tmp / "raw.ini").write_text("[default]\ncli_binary_format = raw-in-base64-out\n")
    (tmp / "hex.ini").write_text("[default]\ncli_binary_format = hex\n")
    (tmp / "empty.ini").write_text("[default]\ncli_binary_format =\n")  # '' is unknown too
    raw_profile = str(tmp / "raw.ini")
    return [
        case("encrypt", *e, "--key-id", "alias/hsm", "--plaintext", HELLO),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "hello"),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "not base64!"),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "aGVsbG8"),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "aGV sbG8="),  # space dropped
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", ""),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "hello wörld",
             "--cli-binary-format", "raw-in-base64-out"),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "hello",
             AWS_CONFIG_FILE=raw_profile),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "hello",
             "--cli-binary-format", "base64", AWS_CONFIG_FILE=raw_profile),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", HELLO,
             AWS_CONFIG_FILE=str(tmp / "hex.ini")),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", HELLO,
             AWS_CONFIG_FILE=str(tmp / "empty.ini")),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "fileb://plain.bin"),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "file://plain.b64"),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "file://plain.b64",
             "--cli-binary-format", "raw-in-base64-out"),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "fileb://missing.bin"),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", HELLO,
             "--query", "CiphertextBlob", "--output", "text"),
        case("encrypt", *e, "--cli-input-json", f'{{"KeyId": "k", "Plaintext": "{HELLO}"}}'),
        case("encrypt", *e, "--cli-input-json", '{"KeyId": "k", "Plaintext": "bad!"}'),
        case("encrypt", *e, "--cli-input-yaml", f"KeyId: k\nPlaintext: {HELLO}\n"),
        case("encrypt", *e, "--cli-input-json", '{"KeyId": "k", "Plaintext": 5}'),
        case("decrypt", *e, "--ciphertext-blob", "fileb://ct.bin"),
        case("decrypt", *e, "--ciphertext-blob", "fileb://ct.bin",
             "--query", "Plaintext", "--output", "text"),
        case("decrypt", *e, "--ciphertext-blob", CIPHERTEXT, "--output", "yaml"),
        case("decrypt", *e, "--ciphertext-blob", "fileb://bad-ct.bin"),
        case("decrypt", *e, "--ciphertext-blob", "fileb://ct.bin", "--key-id", "missing"),
        case("re-encrypt", *e, "--ciphertext-blob", "fileb://ct.bin",
             "--destination-key-id", XKS_KEY, "--output", "table"),
        case("re-encrypt", *e, "--ciphertext-blob", "fileb://ct.bin"),
        case("generate-data-key", *e, "--key-id", HSM_KEY, "--key-spec", "AES_256"),
        case("generate-data-key", *e, "--key-id", HSM_KEY, "--number-of-bytes", "16",
             "--output", "text"),
        case("generate-data-key-without-plaintext", *e, "--key-id", XKS_KEY,
             "--key-spec", "AES_128", "--output", "yaml-stream"),
        case("generate-random", *e, "--number-of-bytes", "64", "--output", "yaml"),
        case("generate-random", *e, "--number-of-bytes", "8", "--custom-key-store-id",
             "cks-1234567890abcdef0", "--output", "table"),
        case("generate-random", *e, "--custom-key-store-id", "cks-missing"),
    ]  # fmt: skip


def _parameter_cases(url: str, tmp: Path) -> list[Case]:
    e = ("--endpoint-url", url)
    enc = ("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", HELLO)
    (tmp / "tags.json").write_text('[{"TagKey": "a", "TagValue": "b"}]')
    (tmp / "context.json").write_text('{"purpose": "test"}')
    return [
        case(*enc, "--encryption-context", "purpose=test,team=crypto"),
        case(*enc, "--encryption-context", '{"purpose": "test", "n": "1"}'),
        case(*enc, "--encryption-context", "file://context.json"),
        case(*enc, "--encryption-context", "purpose=a,purpose=b"),
        case(*enc, "--encryption-context", "purpose"),
        case(*enc, "--encryption-context", "{bad"),
        case(*enc, "--encryption-context", "[1]"),
        case(*enc, "--encryption-context", "k=[a,b]"),
        case(*enc, "--grant-tokens", "token-a", "token-b", "--dry-run"),
        case(*enc, "--grant-tokens"),
        case(*enc, "--no-dry-run"),
        case(*enc, "--encryption-algorithm", "NOT_AN_ALGORITHM"),
        case("encrypt", *e, "--key-id", HSM_KEY),
        case("encrypt", *e, "--plaintext", HELLO),
        case("encrypt", *e),
        case("generate-random", *e, "--number-of-bytes", "abc"),
        case("generate-random", *e, "--number-of-bytes", "0"),
        case("generate-random", *e, "--number-of-bytes", "-3"),
        case("list-keys", *e, "--limit", "abc"),
        case("create-key", *e, "--tags", "TagKey=a,TagValue=b", "TagKey=c,TagValue=d",
             "--multi-region", "--bypass-policy-lockout-safety-check"),
        case("create-key", *e, "--tags", '[{"TagKey": "a", "TagValue": "b"}]'),
        case("create-key", *e, "--tags", '{"TagKey": "a", "TagValue": "b"}',
             '{"TagKey": "c", "TagValue": "d"}'),
        case("create-key", *e, "--tags", "file://tags.json"),
        case("create-key", *e, "--tags", "TagKey=a"),
        case("create-key", *e, "--tags", "TagKey=a,TagValue=b,Extra=c"),
        case("create-key", *e, "--tags", "TagKey=a,TagValue=b", "oops"),
        case("create-key", *e, "--no-multi-region", "--key-spec", "NOPE"),
        case("create-key", *e, "--multi", "--output", "text"),
        case("create-grant", *e, "--key-id", HSM_KEY, "--grantee-principal", "arn:p",
             "--operations", "Encrypt", "Decrypt",
             "--constraints", "EncryptionContextSubset={purpose=test,team=crypto}"),
        case("create-grant", *e, "--key-id", HSM_KEY, "--grantee-principal", "arn:p",
             "--operations", "Encrypt", "--constraints",
             '{"EncryptionContextEquals": {"a": "b"}}', "--output", "text"),
        case("untag-resource", *e, "--key-id", HSM_KEY, "--tag-keys", "team", "env"),
        case("untag-resource", *e, "--key-id", HSM_KEY),
        case("untag-resource", *e, "--key-id", HSM_KEY, "--tag-keys"),
        case("tag-resource", *e, "--key-id", HSM_KEY, "--tags", "TagKey=k,TagValue=Zoë"),
        case("schedule-key-deletion", *e, "--key-id", HSM_KEY, "--pending-window-in-days", "x"),
        case("import-key-material", *e, "--key-id", HSM_KEY, "--import-token", HELLO,
             "--encrypted-key-material", "fileb://tags.json", "--valid-to",
             "2030-01-02T03:04:05Z", "--expiration-model", "KEY_MATERIAL_EXPIRES"),
        case("import-key-material", *e, "--key-id", HSM_KEY, "--import-token", HELLO,
             "--encrypted-key-material", HELLO, "--valid-to", "next tuesday"),
        case("import-key-material", *e, "--key-id", HSM_KEY, "--import-token", HELLO,
             "--encrypted-key-material", HELLO, "--valid-to", "1893553445.5"),
    ]  # fmt: skip


def _lifecycle_cases(url: str, tmp: Path) -> list[Case]:
    e = ("--endpoint-url", url)
    (tmp / "policy.json").write_text(POLICY)
    return [
        case("create-key", *e, "--description", "hsm key", "--origin", "AWS_CLOUDHSM",
             "--custom-key-store-id", "cks-1234567890abcdef0"),
        case("create-key", *e, "--origin", "EXTERNAL_KEY_STORE", "--xks-key-id", "ext-1",
             "--custom-key-store-id", "cks-5ebd4ef395a96288e", "--output", "text"),
        case("create-key", *e, "--policy", "file://policy.json", "--output", "table"),
        case("describe-key", *e, "--key-id", PENDING_KEY),
        case("describe-key", *e, "--key-id", "missing"),
        case("describe-key", *e),
        case("describe-key", *e, "--key-id", PENDING_KEY, "--query", "KeyMetadata.DeletionDate"),
        case("describe-key", *e, "--key-id", HSM_KEY, "--output", "text",
             TZ="America/Los_Angeles"),
        case("describe-key", *e, "--key-id", HSM_KEY, "--output", "yaml", TZ="Asia/Kolkata"),
        case("enable-key", *e, "--key-id", HSM_KEY),
        case("enable-key", *e, "--key-id", HSM_KEY, "--output", "text"),
        case("disable-key", *e, "--key-id", "missing"),
        case("schedule-key-deletion", *e, "--key-id", HSM_KEY, "--pending-window-in-days", "7"),
        case("schedule-key-deletion", *e, "--key-id", HSM_KEY, "--output", "text"),
        case("cancel-key-deletion", *e, "--key-id", PENDING_KEY, "--output", "table"),
        case("update-key-description", *e, "--key-id", HSM_KEY, "--description", "new"),
        case("create-alias", *e, "--alias-name", "alias/new", "--target-key-id", HSM_KEY),
        case("create-alias", *e, "--alias-name", "alias/hsm", "--target-key-id", HSM_KEY),
        case("create-alias", *e, "--alias-name", "alias/new"),
        case("update-alias", *e, "--alias-name", "alias/hsm", "--target-key-id", XKS_KEY),
        case("delete-alias", *e, "--alias-name", "alias/missing"),
        case("delete-alias", *e, "--alias-name", "alias/old", "--output", "yaml"),
        case("get-key-policy", *e, "--key-id", HSM_KEY, "--policy-name", "default"),
        case("get-key-policy", *e, "--key-id", HSM_KEY, "--query", "Policy", "--output", "text"),
        case("put-key-policy", *e, "--key-id", HSM_KEY, "--policy", "file://policy.json"),
        case("put-key-policy", *e, "--key-id", HSM_KEY, "--policy", "{}",
             "--bypass-policy-lockout-safety-check"),
        case("get-key-rotation-status", *e, "--key-id", HSM_KEY),
        case("enable-key-rotation", *e, "--key-id", XKS_KEY, "--rotation-period-in-days", "90"),
        case("disable-key-rotation", *e, "--key-id", "missing"),
        case("rotate-key-on-demand", *e, "--key-id", HSM_KEY),
        case("list-key-rotations", *e, "--key-id", HSM_KEY, "--output", "text"),
        case("get-parameters-for-import", *e, "--key-id", HSM_KEY, "--wrapping-algorithm",
             "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048"),
        case("delete-imported-key-material", *e, "--key-id", HSM_KEY),
        case("generate-data-key-pair", *e, "--key-id", HSM_KEY, "--key-pair-spec", "RSA_2048"),
        case("generate-data-key-pair-without-plaintext", *e, "--key-id", XKS_KEY,
             "--key-pair-spec", "ECC_NIST_P256"),
        case("replicate-key", *e, "--key-id", HSM_KEY, "--replica-region", "us-west-2"),
        case("update-primary-region", *e, "--key-id", HSM_KEY, "--primary-region", "us-west-2"),
        case("retire-grant", *e, "--grant-token", "t"),
        case("revoke-grant", *e, "--key-id", HSM_KEY, "--grant-id", "g", "--dry-run"),
    ]  # fmt: skip


def _listing_cases(url: str, tmp: Path) -> list[Case]:
    e = ("--endpoint-url", url)
    resume = "eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAyfQ=="
    cases = []
    for command, extra in (
        ("list-keys", ()),
        ("list-aliases", ()),
        ("list-resource-tags", ("--key-id", HSM_KEY)),
        ("list-grants", ("--key-id", HSM_KEY)),
    ):
        cases += [
            case(command, *e, *extra, "--page-size", "2", "--max-items", "3"),
            case(command, *e, *extra, "--page-size", "2", "--output", "text"),
            case(command, *e, *extra, "--max-items", "1", "--output", "yaml"),
            case(command, *e, *extra, "--starting-token", resume, "--page-size", "2"),
            case(command, *e, *extra, "--no-paginate", "--limit", "2", "--output", "text"),
            case(command, *e, *extra, "--limit", "1", "--output", "yaml-stream"),
            case(command, *e, *extra, "--page-size", "1", "--output", "yaml-stream"),
            case(command, *e, *extra, "--no-paginate", "--max-items", "1"),
        ]
    return [
        *cases,
        case("list-aliases", *e, "--key-id", HSM_KEY, "--output", "table"),
        case("list-aliases", *e, "--query", "Aliases[?TargetKeyId].AliasName", "--output",
             "text", "--page-size", "2"),
        case("list-resource-tags", *e, "--key-id", "missing"),
        case("list-resource-tags", *e, "--key-id", HSM_KEY, "--starting-token", "garbage"),
        case("list-keys", *e, "--page-size", "0"),
        case("list-key-policies", *e, "--key-id", HSM_KEY, "--output", "table"),
        case("list-retirable-grants", *e, "--retiring-principal", "arn:p", "--output", "yaml"),
    ]  # fmt: skip


def _format_cases(url: str, tmp: Path) -> list[Case]:
    e = ("--endpoint-url", url)
    commands = [
        ("describe-key", "--key-id", XKS_KEY),
        ("describe-key", "--key-id", PENDING_KEY),
        ("list-aliases",),
        ("encrypt", "--key-id", HSM_KEY, "--plaintext", HELLO, "--encryption-context", "a=b"),
        ("generate-data-key", "--key-id", XKS_KEY, "--number-of-bytes", "48"),
        ("schedule-key-deletion", "--key-id", HSM_KEY),
        ("get-key-policy", "--key-id", HSM_KEY),
        ("list-grants", "--key-id", HSM_KEY),
        ("disable-key", "--key-id", HSM_KEY),
    ]
    (tmp / "wire.ini").write_text("[default]\ncli_timestamp_format = wire\n")
    wire = str(tmp / "wire.ini")
    return [case(*command[:1], *e, *command[1:], "--output", fmt) for command in commands
            for fmt in FORMATS] + [
        case("describe-key", *e, "--key-id", PENDING_KEY, "--output", "table", "--color", "on"),
        case("list-aliases", *e, "--output", "table", "--color", "on", "--page-size", "2"),
        case("describe-key", *e, "--key-id", PENDING_KEY, AWS_CONFIG_FILE=wire),
        case("list-aliases", *e, "--output", "text", AWS_CONFIG_FILE=wire),
        case("list-grants", *e, "--key-id", HSM_KEY, "--output", "yaml", AWS_CONFIG_FILE=wire),
        case("encrypt", *e, "--key-id", HSM_KEY, "--plaintext", "héllo"),
    ]  # fmt: skip


GROUPS = {
    "blobs": _blob_cases,
    "parameters": _parameter_cases,
    "lifecycle": _lifecycle_cases,
    "listings": _listing_cases,
    "formats": _format_cases,
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_key_commands_match_aws(
    group: str, runners: Runners, cli_home: Path, stub_kms: StubKMS, tmp_path: Path
) -> None:
    cases = GROUPS[group](stub_kms.url, tmp_path)
    diffs = compare_cases(runners, cases, cli_home, cwd=tmp_path)
    assert not diffs, "".join(diffs)
