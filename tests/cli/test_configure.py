"""`cks configure` and `cks login`: the commands the region and credentials hints name.

They write the profile `cks kms` reads (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE honoured),
take flags, ask like `aws configure` on a terminal, keep the rest of the files, and never print
a secret. After following a hint, the command that printed it works.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import stat
import subprocess
import sys
import termios
from pathlib import Path

from tests.helpers.server import ServerProcess

D = "describe-custom-key-stores"
COMMAND = [sys.executable, "-m", "kmscks"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
        **extra,
    }


def cks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_following_the_hints_makes_the_command_work(
    plain_server: ServerProcess, tmp_path: Path
) -> None:
    env = _env(tmp_path)
    describe = ["kms", D]
    no_region = cks(env, *describe)
    assert no_region.returncode == 253 and '"cks configure"' in no_region.stderr
    configured = cks(env, "configure", "--endpoint-url", plain_server.url, "--region", "sa-east-1")
    assert configured.returncode == 0, configured.stderr
    assert cks(env, *describe).returncode == 0

    # The credentials step alone: a profile with a region but no keys, then `cks login`.
    (tmp_path / ".aws" / "config").write_text(
        f"[profile bare]\nregion = sa-east-1\nendpoint_url = {plain_server.url}\n"
    )
    bare = _env(tmp_path, AWS_PROFILE="bare")
    no_keys = cks(bare, *describe)
    assert no_keys.returncode == 253 and '"cks login"' in no_keys.stderr
    logged_in = cks(bare, "login")
    assert logged_in.returncode == 0, logged_in.stderr
    assert (
        "bare" in logged_in.stdout and "[bare]" in (tmp_path / ".aws" / "credentials").read_text()
    )
    assert cks(bare, *describe).returncode == 0


def test_flags_write_the_named_profile_into_the_chosen_files(tmp_path: Path) -> None:
    config, credentials = tmp_path / "cfg", tmp_path / "creds"
    config.write_text(
        "# my settings\n[default]\nregion = eu-north-1\n\n[profile lab]\noutput = text\n"
    )
    credentials.write_text(
        "[default]\naws_access_key_id = AKIAREALKEY\naws_secret_access_key = real\n"
    )
    env = _env(tmp_path, AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials))
    done = cks(
        env, "configure", "--profile", "lab", "--region", "ap-south-2", "--endpoint-url",
        "http://127.0.0.1:4700", "--access-key-id", "AKIDLAB", "--secret-access-key", "T0pS3cret",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "T0pS3cret" not in done.stdout + done.stderr
    assert config.read_text() == (
        "# my settings\n[default]\nregion = eu-north-1\n\n[profile lab]\noutput = text\n"
        "region = ap-south-2\nendpoint_url = http://127.0.0.1:4700\n"
    )
    assert credentials.read_text() == (
        "[default]\naws_access_key_id = AKIAREALKEY\naws_secret_access_key = real\n\n"
        "[lab]\naws_access_key_id = AKIDLAB\naws_secret_access_key = T0pS3cret\n"
    )
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert not (tmp_path / ".aws").exists()

    # Again, other values: updated in place; a profile with real keys keeps them.
    again = cks(env, "login", "--profile", "lab", "--secret-access-key", "N3w")
    assert again.returncode == 0 and "N3w" not in again.stdout
    assert (
        "[lab]\naws_access_key_id = AKIDLAB\naws_secret_access_key = N3w\n"
        in credentials.read_text()
    )
    default = cks(env, "configure")
    assert default.returncode == 0
    assert (
        "aws_access_key_id = AKIAREALKEY\naws_secret_access_key = real\n" in credentials.read_text()
    )
    assert "already has access keys of its own" in default.stderr


def test_bad_values_are_refused(tmp_path: Path) -> None:
    env = _env(tmp_path)
    bad_url = cks(env, "configure", "--endpoint-url", "localhost:4599")
    assert bad_url.returncode == 252 and "scheme is missing" in bad_url.stderr
    bad_region = cks(env, "configure", "--region", "us east")
    assert bad_region.returncode == 252 and "doesn't match a supported format" in bad_region.stderr
    assert not (tmp_path / ".aws").exists()


def _session(args: list[str], env: dict[str, str], answers: list[str]) -> tuple[str, int]:
    """Run on a pseudo-terminal (as its controlling terminal, so the secret prompt reads it
    without echo) and answer each prompt in turn."""
    controller, terminal = pty.openpty()

    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        args, env=env, stdin=terminal, stdout=terminal, stderr=terminal,
        preexec_fn=take_terminal,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    answered = 0
    pending = list(answers)
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 30)
            if not ready:
                raise AssertionError(f"no prompt after: {seen!r}")
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            # A new prompt since the last answer (an empty answer's echo is not one).
            if pending and seen[answered:].endswith(b"]: "):
                os.write(controller, pending.pop(0).encode() + b"\n")
                answered = len(seen)
    finally:
        os.close(controller)
    return seen.decode().replace("\r\n", "\n"), process.wait(30)


def test_on_a_terminal_it_asks_like_aws_configure(tmp_path: Path) -> None:
    env = _env(tmp_path)
    transcript, rc = _session(
        [*COMMAND, "configure"], env, ["AKIDTERMINAL", "Hush3d", "", "table", ""]
    )
    assert rc == 0, transcript
    prompts = [line for line in transcript.splitlines() if "]: " in line]
    assert [line.split(" [")[0] for line in prompts] == [
        "AWS Access Key ID",
        "AWS Secret Access Key",
        "Default region name",
        "Default output format",
        "Endpoint URL",
    ]
    assert prompts[0].startswith("AWS Access Key ID [None]: ")
    assert "Hush3d" not in transcript  # read without echo, never printed back
    aws = tmp_path / ".aws"
    assert (aws / "config").read_text() == (
        "[default]\nregion = us-east-1\noutput = table\nendpoint_url = http://127.0.0.1:4599\n"
    )
    assert (aws / "credentials").read_text() == (
        "[default]\naws_access_key_id = AKIDTERMINAL\naws_secret_access_key = Hush3d\n"
    )
    # A second run shows what is there (the key id's end only, never the secret).
    transcript, rc = _session([*COMMAND, "login"], env, ["", ""])
    assert rc == 0
    assert "AWS Access Key ID [****************INAL]: " in transcript
    assert "AWS Secret Access Key [****************]: " in transcript
    assert "Hush3d" not in transcript
