"""What `cks serve` keeps, and how it goes away: `--reset`, and nothing left by a failed start.

Top level, beside server.py (which alone imports it). The data is the SQLite database
`cks.sqlite3` (with its WAL files) and the master key `master.key` in the data dir, or, with
`--database-url`, the cks tables of that PostgreSQL database (the master key stays in the key
dir). A reset removes exactly these: never the folder's other files, never another database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from pathlib import Path

from kmscks.service.secrets import KEY_FILE
from kmscks.store.reset import SQLITE_FILES, delete_data


def describe(database_url: str | None, data_dir: Path, key_configured: bool) -> str:
    """What a reset deletes, in words, for the question and the docs."""
    key = "" if key_configured else f" and the master key {data_dir / KEY_FILE}"
    if database_url:
        return f"every cks table of the PostgreSQL database {_safe_url(database_url)}{key}"
    return f"the SQLite database {data_dir / SQLITE_FILES[0]}{key}"


# Every running `cks serve` holds a shared lock on this file in its data (or key) dir for as
# long as it runs; a reset takes it exclusively first, so it refuses while a server uses the
# data instead of deleting files under it (acknowledged writes would then be lost).
LOCK_FILE = "cks.lock"
_held: list[int] = []  # the open lock file: closing it would drop the lock


class DataDirInUse(OSError):
    """Another `cks serve` is running on this data dir (or a reset is)."""


def _lock(data_dir: Path, mode: int) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise
    return fd


def hold_while_serving(data_dir: Path) -> None:
    """Take this server's shared lock on the data dir (see LOCK_FILE) for the process's life."""
    try:
        _held.append(_lock(data_dir, fcntl.LOCK_SH))
    except BlockingIOError:
        raise DataDirInUse(f"{data_dir} is being reset by another cks serve")


def reset(database_url: str | None, data_dir: Path, key_configured: bool) -> list[str]:
    """Delete the server's data; returns what was deleted. Refused while another `cks serve`
    runs on the same data dir (with PostgreSQL: the same key dir on this machine)."""
    try:
        fd = _lock(data_dir, fcntl.LOCK_EX)
    except BlockingIOError:
        raise DataDirInUse(
            f"another cks serve is running on {data_dir}: stop it before --reset"
        ) from None
    try:
        return _delete(database_url, data_dir, key_configured)
    finally:
        os.close(fd)


def _delete(database_url: str | None, data_dir: Path, key_configured: bool) -> list[str]:
    deleted = delete_data(database_url, data_dir)
    key = data_dir / KEY_FILE
    if not key_configured and key.exists():
        key.unlink()
        deleted.append(str(key))
    return deleted


def _safe_url(url: str) -> str:
    """The URL without a password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


class StartGuard:
    """Undoes what a start-up that fails creates, so a failed `cks serve` leaves nothing behind.

    Notes what exists before the checks create the data dir, database and key; `undo()`
    removes what was new: the folder (from its first missing ancestor) if there was none,
    else only the new files.
    """

    def __init__(self, data_dir: Path) -> None:
        self._new_root = _first_missing(data_dir)
        self._data_dir = data_dir
        self._existing = {
            name for name in (*SQLITE_FILES, KEY_FILE, LOCK_FILE) if (data_dir / name).exists()
        }

    def undo(self) -> None:
        if self._new_root is not None:
            shutil.rmtree(self._new_root, ignore_errors=True)
            return
        for name in (*SQLITE_FILES, KEY_FILE, LOCK_FILE):
            if name not in self._existing:
                with contextlib.suppress(FileNotFoundError):
                    (self._data_dir / name).unlink()


def _first_missing(path: Path) -> Path | None:
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing
