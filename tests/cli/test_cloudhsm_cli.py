"""`cks cloudhsm`: global options anywhere, `cks kms`'s profile and credential chain, a clear
error without credentials, and create-kms-user saying what it did. Against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess

MISSING = "cluster-aaaaaaaaaaa"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.update(extra)
    return env


def cloudhsm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmscks", "cloudhsm", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _creds(**extra: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", **extra}


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_before_or_after_the_command(
    where: str, plain_server: ServerProcess, tmp_path: Path
) -> None:
    options = ["--endpoint-url", plain_server.url, "--region", "eu-west-3"]
    command = ["activate-cluster", "--cluster-id", MISSING]
    args = [*options, *command] if where == "before" else [*command, *options]
    done = cloudhsm(_env(tmp_path, **_creds()), *args)
    # The server answered: the options reached it wherever they stood.
    assert done.returncode == 254, done.stderr
    assert "An error occurred (CloudHsmResourceNotFoundException)" in done.stderr


def _profile_files(home: Path, server: ServerProcess, access: str, secret: str) -> None:
    aws = home / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    (aws / "config").write_text(f"[profile lab]\nregion = eu-west-3\nendpoint_url = {server.url}\n")
    (aws / "credentials").write_text(
        f"[lab]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"
    )


@pytest.mark.parametrize("how", ["--profile", "AWS_PROFILE"])
def test_profiles_give_region_endpoint_and_credentials(
    how: str, plain_server: ServerProcess, tmp_path: Path
) -> None:
    _profile_files(tmp_path, plain_server, "test", "test")
    extra = {"AWS_PROFILE": "lab"} if how == "AWS_PROFILE" else {}
    args = ["--profile", "lab"] if how == "--profile" else []
    done = cloudhsm(_env(tmp_path, **extra), "activate-cluster", "--cluster-id", MISSING, *args)
    assert done.returncode == 254, done.stderr
    assert "CloudHsmResourceNotFoundException" in done.stderr


def test_the_profile_credentials_are_the_ones_used(
    plain_server: ServerProcess, tmp_path: Path
) -> None:
    # Not test/test behind the user's back: unknown keys are refused by the server.
    _profile_files(tmp_path, plain_server, "AKIDNOTKNOWN0000", "nope")
    done = cloudhsm(_env(tmp_path), "--profile", "lab", "activate-cluster", "--cluster-id", MISSING)
    assert done.returncode == 254
    assert "CloudHsmResourceNotFoundException" not in done.stderr
    assert "An error occurred (" in done.stderr


def test_no_credentials_is_a_clear_error(tmp_path: Path) -> None:
    # Port 9 is closed: had the command sent anything, it would fail with 255 instead.
    env = _env(tmp_path, AWS_DEFAULT_REGION="us-east-1")
    done = cloudhsm(env, "activate-cluster", "--cluster-id", MISSING, "--endpoint-url",
                    "http://127.0.0.1:9")  # fmt: skip
    assert (done.returncode, done.stdout) == (253, "")
    assert done.stderr == (
        '\nUnable to locate credentials. You can configure credentials by running "cks login".\n'
    )


def test_no_region_and_unknown_profile_are_reported_like_cks_kms(tmp_path: Path) -> None:
    no_region = cloudhsm(_env(tmp_path, **_creds()), "activate-cluster", "--cluster-id", MISSING)
    assert no_region.returncode == 253 and "You must specify a region." in no_region.stderr
    unknown = cloudhsm(_env(tmp_path, **_creds()), "--profile", "nosuch", "quickstart")
    assert unknown.returncode == 255
    assert unknown.stderr == "\nThe config profile (nosuch) could not be found\n"


def test_create_kms_user_confirms_what_it_did(plain_server: ServerProcess, tmp_path: Path) -> None:
    env = _env(
        tmp_path, **_creds(AWS_DEFAULT_REGION="ap-northeast-3", AWS_ENDPOINT_URL=plain_server.url)
    )
    quick = cloudhsm(env, "quickstart", "--trust-anchor-file", str(tmp_path / "ca.crt"))
    assert quick.returncode == 0, quick.stderr
    cluster = quick.stdout.split()[1]
    assert cloudhsm(env, "delete-kms-user", "--cluster-id", cluster).returncode == 0
    done = cloudhsm(env, "create-kms-user", "--cluster-id", cluster, "--password", "S3cretPass")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ClusterId": cluster, "State": "ACTIVE"}
    assert done.stderr.startswith(f"Created the kmsuser crypto user in {cluster}")
    assert "S3cretPass" not in done.stdout + done.stderr
    again = cloudhsm(env, "create-kms-user", "--cluster-id", cluster, "--password", "x" * 8)
    assert again.returncode == 254 and "already has a kmsuser" in again.stderr
