"""The key commands on the wire and in shell pipelines, next to /usr/bin/aws.

* Request bodies: for the same command line, cks sends exactly the bytes aws sends (blobs
  base64-encoded from either binary format or a file, maps, booleans, lists, timestamps as
  epoch seconds, members in the order awscli builds them).
* `--generate-cli-skeleton` input, yaml-input and output for every key command (blobs, maps,
  timestamps; enum values masked, because botocore picks them at random).
* The documented round trip: encrypt, `--query CiphertextBlob --output text | base64 -d >
  ct.bin`, then decrypt `fileb://ct.bin` and `base64 -d` the plaintext, with the real
  executables, both ways round (a ciphertext written by one CLI decrypted by the other).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kmscks.cli import modelgen, spec
from tests.cli.conftest import AWS, CKS, Runners, as_cks, base_env, run
from tests.cli.stub_kms import StubKMS
from tests.cli.stub_kms_keys import KEY_IDS

HSM_KEY = KEY_IDS[0]
KEY_COMMANDS = [modelgen.cli_name(name) for name in modelgen.OPERATIONS[6:]]


def _bodies(
    runners: Runners, stub: StubKMS, args: list[str], env: dict[str, str], cwd: Path
) -> tuple[list[bytes], list[bytes]]:
    stub.state.requests.clear()
    runners.aws(["kms", *args], env, cwd)
    sent_by_aws = [request["body"] for request in stub.state.requests]
    stub.state.requests.clear()
    runners.cks(["kms", *args], env, cwd)
    return sent_by_aws, [request["body"] for request in stub.state.requests]


def test_request_bodies_are_the_bytes_aws_sends(
    runners: Runners, cli_home: Path, fresh_stub: StubKMS, tmp_path: Path
) -> None:
    (tmp_path / "data.bin").write_bytes(bytes(range(256)))
    (tmp_path / "raw.ini").write_text("[default]\ncli_binary_format = raw-in-base64-out\n")
    e = ["--endpoint-url", fresh_stub.url]
    lines = [
        ["encrypt", *e, "--key-id", "k", "--plaintext", "fileb://data.bin"],
        ["encrypt", *e, "--key-id", "k", "--plaintext", "aGVs bG8=\n"],
        ["encrypt", *e, "--key-id", "k", "--plaintext", "Zoë", "--cli-binary-format",
         "raw-in-base64-out", "--encryption-context", "b=2,a=1", "--grant-tokens", "t1", "t2",
         "--dry-run"],
        ["decrypt", *e, "--ciphertext-blob", "Y3Q6aGk=", "--no-dry-run", "--key-id", "k",
         "--cli-input-json", '{"EncryptionContext": {"x": "y"}, "KeyId": "ignored"}'],
        ["re-encrypt", *e, "--destination-key-id", "k", "--ciphertext-blob", "fileb://data.bin",
         "--dry-run-modifiers", "IGNORE_CIPHERTEXT"],
        ["create-key", *e, "--tags", "TagKey=a,TagValue=b", "TagKey=c,TagValue=d",
         "--no-multi-region", "--bypass-policy-lockout-safety-check", "--description", "é"],
        ["create-grant", *e, "--key-id", "k", "--grantee-principal", "p", "--operations",
         "Encrypt", "--constraints", "EncryptionContextSubset={k=v}"],
        ["import-key-material", *e, "--key-id", "k", "--import-token", "fileb://data.bin",
         "--encrypted-key-material", "AAEC", "--valid-to", "2030-01-02T03:04:05.250Z"],
        ["import-key-material", *e, "--key-id", "k", "--import-token", "AA==",
         "--encrypted-key-material", "AAEC", "--valid-to", "1893553445"],
        ["list-aliases", *e, "--page-size", "2", "--max-items", "3"],
        ["generate-random", *e, "--number-of-bytes", "7", "--recipient",
         "KeyEncryptionAlgorithm=RSAES_OAEP_SHA_256,AttestationDocument=AAEC"],
    ]  # fmt: skip
    for args in lines:
        for extra in ({}, {"AWS_CONFIG_FILE": str(tmp_path / "raw.ini")}):
            env = base_env(cli_home, **extra)
            sent_by_aws, sent_by_cks = _bodies(runners, fresh_stub, args, env, tmp_path)
            assert sent_by_aws, args
            assert sent_by_cks == sent_by_aws, (args, extra)


def _enum_values(shape: spec.Shape) -> set[str]:
    found = set(shape.get("enum", []))
    for _, member in shape.get("members", []):
        found |= _enum_values(member)
    for key in ("member", "key", "value"):
        if key in shape:
            found |= _enum_values(shape[key])
    return found


def _masked(text: bytes, command: str) -> bytes:
    values = sorted(_enum_values(spec.operation(command)["input"]), key=len, reverse=True)
    if not values:
        return text
    pattern = re.compile(b"|".join(re.escape(value.encode()) for value in values))
    return pattern.sub(b"ENUM", text)


@pytest.mark.parametrize("kind", ["input", "yaml-input"])
def test_input_skeletons_match_aws(kind: str, runners: Runners, cli_home: Path) -> None:
    env = base_env(cli_home)
    for command in KEY_COMMANDS:
        args = ["kms", command, "--generate-cli-skeleton", kind]
        aws, cks = runners.aws(args, env), runners.cks(args, env)
        assert (aws.stderr, aws.rc) == (cks.stderr, cks.rc) == (b"", 0), command
        assert _masked(cks.stdout, command) == _masked(aws.stdout, command), command


def test_output_skeletons_match_aws(runners: Runners, cli_home: Path) -> None:
    """awscli stubs a response of member names and validates it against the output shape,
    so most fail with a min-length report; both CLIs must agree on which and how."""
    env = base_env(cli_home)
    for command in KEY_COMMANDS:
        required = spec.operation(command)["input"]["required"]
        options = {member: option for option, member in spec.operation(command)["options"].items()}
        args = ["kms", command, "--generate-cli-skeleton", "output"]
        for member in required:
            shape = spec.members(spec.operation(command)["input"])[member]
            value = "TagKey=a,TagValue=b" if shape["type"] == "list" else "AAEC"
            args += [f"--{options[member]}", value]
        aws, cks = runners.aws(args, env), runners.cks(args, env)
        assert aws == cks, command


def _shell(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["sh", "-ec", script], env=env, cwd=cwd, capture_output=True, timeout=120, check=False
    )


@pytest.mark.parametrize(("encrypting", "decrypting"), [("aws", "cks"), ("cks", "aws")])
def test_encrypt_decrypt_pipeline_round_trip(
    encrypting: str,
    decrypting: str,
    aws_cli: str,
    cli_home: Path,
    stub_kms: StubKMS,
    tmp_path: Path,
) -> None:
    programs: dict[str, Any] = {"aws": AWS, "cks": " ".join(CKS[:-1])}
    env = base_env(cli_home)
    (tmp_path / "secret.txt").write_bytes(b"top secret \x00\xff\n")
    e = f"--endpoint-url {stub_kms.url}"
    script = (
        f"{programs[encrypting]} kms encrypt {e} --key-id alias/hsm "
        "--plaintext fileb://secret.txt --query CiphertextBlob --output text "
        "| base64 -d > ct.bin\n"
        f"{programs[decrypting]} kms decrypt {e} --ciphertext-blob fileb://ct.bin "
        "--query Plaintext --output text | base64 -d > plain.bin\n"
    )
    done = _shell(script, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ct.bin").read_bytes() == b"ct:top secret \x00\xff\n"
    assert (tmp_path / "plain.bin").read_bytes() == (tmp_path / "secret.txt").read_bytes()


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["encrypt", "--key-id", "k", "--plaintext", "fileb:///dev/stdin"], b"hi\x00there\xff"),
        (["encrypt", "--key-id", "k", "--plaintext", "file:///dev/stdin"], b"aGVsbG8=\n"),
        (["encrypt", "--key-id", "k", "--plaintext", "file:///dev/stdin"], b"not base64!"),
        (["decrypt", "--ciphertext-blob", "fileb:///dev/stdin", "--query", "Plaintext"], b"ct:a"),
    ],
)
def test_blobs_from_a_pipe_like_aws(
    args: list[str], stdin: bytes, aws_cli: str, cli_home: Path, stub_kms: StubKMS
) -> None:
    """`... | cks kms encrypt --plaintext fileb:///dev/stdin`: the pipe is read once."""
    env = base_env(cli_home)
    line = ["kms", args[0], "--endpoint-url", stub_kms.url, *args[1:]]
    aws = as_cks(run([AWS, *line], env, stdin=stdin))
    cks = run([*CKS, *line[1:]], env, stdin=stdin)
    assert cks == aws
    assert aws.rc in (0, 255)


def test_debug_changes_only_stderr_like_aws(
    runners: Runners, cli_home: Path, stub_kms: StubKMS
) -> None:
    env = base_env(cli_home)
    for args in (
        ["encrypt", "--endpoint-url", stub_kms.url, "--key-id", "k", "--plaintext", "aGk=",
         "--debug"],
        ["list-aliases", "--endpoint-url", stub_kms.url, "--page-size", "2", "--debug"],
        ["decrypt", "--endpoint-url", stub_kms.url, "--ciphertext-blob", "eHg=", "--debug"],
    ):  # fmt: skip
        aws, cks = runners.aws(["kms", *args], env), runners.cks(["kms", *args], env)
        assert (aws.stdout, aws.rc) == (cks.stdout, cks.rc), args
        assert cks.stderr.count(b"Making request for OperationModel") == aws.stderr.count(
            b"Making request for OperationModel"
        )
