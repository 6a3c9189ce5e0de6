"""Worker processes die with the `cks serve` process that started them.

Bottom layer (stdlib only; imports nothing of cks). granian's workers are child processes; if
the main process is killed with SIGKILL it cannot stop them, and an orphaned worker would keep
serving and holding the port, so a restart would fail with "Address already in use". Each
worker asks Linux to SIGKILL it when its parent dies (prctl PR_SET_PDEATHSIG), then checks that
its parent is still the process that started it (the parent may have died before the prctl).
Elsewhere a daemon thread polls the parent instead.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PARENT_VARIABLE = "CKS_SERVE_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_POLL_SECONDS = 0.5


def mark_parent() -> None:
    """In the main process, before the workers start: the pid they must outlive not."""
    os.environ[PARENT_VARIABLE] = str(os.getpid())


def die_with_parent() -> None:
    """In a worker: be killed when the main process goes, however it goes."""
    expected = os.environ.get(PARENT_VARIABLE)
    if not expected:
        return  # not started by `cks serve` (an embedding test, for instance)
    parent = int(expected)
    if sys.platform.startswith("linux") and _set_death_signal():
        # The parent may have died between fork and prctl: then no signal will ever come.
        if os.getppid() != parent:
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _set_death_signal() -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_SECONDS)
    os._exit(1)
