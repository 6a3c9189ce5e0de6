"""`--version` on `cks` and each of its commands: one line, the AWS CLI's layout, stdout, exit 0."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import pytest

import kmscks

LINE = re.compile(rf"cks/{re.escape(kmscks.__version__)} Python/3\.\d+\.\d+ \w+/\S+ source/\w+\n")


@pytest.mark.parametrize("command", [[], ["kms"], ["cloudhsm"], ["xks-proxy"]], ids=" ".join)
def test_every_command_prints_the_same_version_line(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kmscks", *command, "--version"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert LINE.fullmatch(done.stdout), done.stdout
    assert done.stdout == kmscks.version_string() + "\n"


@pytest.mark.parametrize("command", [[], ["cloudhsm"], ["xks-proxy"]], ids=" ".join)
def test_help_lists_version(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kmscks", *command, "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "--version" in done.stdout


def test_the_version_matches_the_package_metadata() -> None:
    assert kmscks.__version__ == importlib.metadata.version("kms-cks")
