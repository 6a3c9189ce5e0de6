"""`cks serve`: the KMS custom key store server.

Checks the options, the config file and the database in this process (so a mistake is a clear
message and exit code 2, not a crashed worker), then runs granian with N worker processes, each
building its own runtime (kmscks.runtime). Workers die with this process, however it dies
(`die_with_parent`, called by each worker).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kmscks import __version__, version_string
from kmscks.logsetup import FORMATS, LEVELS, level_name

if TYPE_CHECKING:
    from granian.constants import Loops

PARENT_VARIABLE = "CKS_SERVE_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_POLL_SECONDS = 0.5


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cks"


def cores() -> int:
    """The cores this process may run on (taskset and cgroup CPU sets respected)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _port_in_use(host: str, port: int) -> str | None:
    """Why the address cannot be served, if it cannot.

    granian binds with SO_REUSEPORT, so a second server on a taken port would silently share it
    (and half the requests) with the first; a plain bind here refuses that.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: a port left in TIME_WAIT by a stopped server is free; an active
        # listener still refuses the bind.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return f"cannot listen on {host}:{port}: {error.strerror}"
    return None


def _port(text: str) -> int:
    """A TCP port number, refused by argparse (exit 2) before anything is created."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {port}")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cks serve", description="Serve the AWS KMS custom key store API (AWS JSON 1.1)."
    )
    parser.add_argument("--version", action="version", version=version_string())
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=4599, help="port to listen on (4599)")
    store = parser.add_mutually_exclusive_group()
    store.add_argument(
        "--data-dir",
        type=Path,
        help=f"folder of the SQLite database and the master key ({default_data_dir()})",
    )
    store.add_argument(
        "--database-url",
        help="postgresql://user@host:port/db to share one database between processes",
    )
    parser.add_argument("--config", type=Path, help="TOML config file (docs/configuration.md)")
    parser.add_argument(
        "--workers",
        type=int,
        help=f"worker processes (default: one per core this process may use, here {cores()})",
    )
    parser.add_argument(
        "--key-dir",
        type=Path,
        help="folder of the master key when --database-url is used (default: the data dir)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        type=level_name,
        choices=LEVELS,
        help="debug, info (the default: one line per request), warning or error; any case",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=FORMATS,
        help="text (the default) or json: one JSON object per line, on stderr",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete the data first (the SQLite database and master key in the data dir; with"
        " --database-url, cks's tables in that database and the master key in the key dir),"
        " then start empty; asks first unless --yes",
    )
    parser.add_argument("--yes", action="store_true", help="with --reset: do not ask")
    return parser


def _confirm_reset(what: str, yes: bool) -> str | None:
    """Why the reset must not go ahead, if it must not."""
    if yes:
        return None
    if not sys.stdin.isatty():
        return "--reset deletes data: add --yes to confirm (stdin is not a terminal)"
    sys.stderr.write(f"cks serve: --reset deletes {what}. Continue? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        return "reset cancelled; nothing was deleted"
    return None


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from kmscks import serverdata
    from kmscks.config import ConfigError, load_config
    from kmscks.runtime import OPTIONS_VARIABLE, ServeOptions
    from kmscks.service.secrets import MasterKeyError, load_master_key
    from kmscks.store.sql import StoreUnavailable, open_store

    if args.workers is None:
        # Measured in docs/benchmarks.md: one per core helps on 2 cores, costs nothing on 1.
        args.workers = cores()
    if args.workers < 1:
        sys.stderr.write("cks serve: --workers must be at least 1\n")
        return 2
    data_dir = (args.key_dir or args.data_dir or default_data_dir()).resolve()
    if data_dir.exists() and not data_dir.is_dir():
        sys.stderr.write(f"cks serve: {data_dir} is not a directory\n")
        return 2
    config_path = args.config.resolve() if args.config else None
    guard = serverdata.StartGuard(data_dir)
    try:
        config = load_config(config_path)
        if args.reset:
            what = serverdata.describe(args.database_url, data_dir, bool(config.master_key))
            refused = _confirm_reset(what, args.yes)
            if refused:
                sys.stderr.write(f"cks serve: {refused}\n")
                return 2
            deleted = serverdata.reset(args.database_url, data_dir, bool(config.master_key))
            sys.stderr.write(f"cks serve: reset: deleted {', '.join(deleted) or 'nothing'}\n")
            guard = serverdata.StartGuard(data_dir)
        serverdata.hold_while_serving(data_dir)
        load_master_key(config.master_key, data_dir)
        open_store(args.database_url, data_dir).close()  # creates or upgrades the schema
        busy = _port_in_use(args.host, args.port)
        if busy:
            raise OSError(busy)
    except (ConfigError, MasterKeyError, StoreUnavailable, OSError) as error:
        guard.undo()  # a failed start leaves no data dir, database file or key behind
        sys.stderr.write(f"cks serve: {error}\n")
        return 2
    options = ServeOptions(
        data_dir=str(data_dir),
        database_url=args.database_url,
        config_path=str(config_path) if config_path else None,
        log_level=args.log_level,
        log_format=args.log_format,
    )
    os.environ[OPTIONS_VARIABLE] = options.to_env()

    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    from kmscks.logsetup import dictconfig

    # The pid each worker must not outlive (die_with_parent, in the worker).
    os.environ[PARENT_VARIABLE] = str(os.getpid())
    limits = config.http_limits

    loop = event_loop()
    server = Granian(
        "kmscks.runtime:create_app",
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        loop=loop,
        workers=args.workers,
        factory=True,
        log_level=LogLevels(args.log_level),
        log_dictconfig=dictconfig(args.log_level, args.log_format),
        log_access=False,
        respawn_failed_workers=True,
        # The limits granian enforces itself (docs/operations.md); api/rsgi.py does the rest.
        # Its buffer refuses a head once max_header_bytes of it are in without its end, but a
        # head that arrives in one read can pass it, so api/rsgi.py counts each head exactly.
        http1_settings=HTTP1Settings(
            header_read_timeout=int(limits.header_timeout_seconds * 1000),
            max_buffer_size=limits.max_header_bytes,
        ),
        backpressure=limits.max_connections_per_worker,
        http=HTTPModes.auto if limits.http2 else HTTPModes.http1,
    )
    # After Granian(): it has applied the log config, so the banner has the same format.
    logging.getLogger("kmscks.server").info(
        "cks %s listening on http://%s:%s (%s, %s worker%s, %s event loop)",
        __version__,
        args.host,
        args.port,
        "PostgreSQL" if args.database_url else f"SQLite in {data_dir}",
        args.workers,
        "s" if args.workers > 1 else "",
        loop.value,
    )
    server.serve()
    return 0


def event_loop() -> Loops:
    """The workers' event loop: uvloop, which serves the crypto operations 10-25% faster than
    asyncio's own loop (measured side by side: docs/benchmarks.md), wherever it is installed (a
    dependency except on Windows); else asyncio's. The benchmarks' trivial endpoint uses it too."""
    from granian.constants import Loops

    return Loops.uvloop if importlib.util.find_spec("uvloop") is not None else Loops.asyncio


def die_with_parent() -> None:
    """In a worker: be killed when the `cks serve` process goes, however it goes.

    granian's workers are child processes; if the main process is killed with SIGKILL it cannot
    stop them, and an orphaned worker would keep serving and holding the port, so a restart
    would fail with "Address already in use". Linux kills the worker when its parent dies
    (prctl PR_SET_PDEATHSIG); the parent may have died before the prctl, hence the check after
    it. Elsewhere a daemon thread polls the parent instead.
    """
    expected = os.environ.get(PARENT_VARIABLE)
    if not expected:
        return  # not started by `cks serve` (an embedding test, for instance)
    parent = int(expected)
    if sys.platform.startswith("linux") and _set_death_signal():
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
