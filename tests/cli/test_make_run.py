"""`make run` says what it installs before the first, slow start (and nothing once installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

from tests.cli.conftest import REPO
from tests.conftest import require

# The message as printed (with -n, make also echoes the recipe that prints it).
MESSAGE = re.compile(r"^make run: installing cks into \.venv first", re.M)


def _make_run_dry(workdir: Path) -> str:
    # -n: make prints the recipes without running them, except the $(MAKE) lines of `run`,
    # which is where the message is decided.
    done = subprocess.run(
        ["make", "-n", "run"], cwd=workdir, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_first_make_run_says_what_it_installs(tmp_path: Path) -> None:
    require(shutil.which("make") is not None, "make")
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    out = _make_run_dry(tmp_path)
    assert MESSAGE.search(out)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert requirement in out
    assert out.index("\nmake run: installing") < out.index("cks serve")

    # Once installed (the stamp is newer than pyproject.toml and constraints.txt), it starts
    # without the message.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()
    stamp = tmp_path / ".venv" / ".installed"
    stamp.touch()
    later = (tmp_path / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (later, later))
    again = _make_run_dry(tmp_path)
    assert not MESSAGE.search(again) and "cks serve --host 127.0.0.1 --port 4599" in again
