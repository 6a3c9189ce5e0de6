"""`cks xks-proxy`: run the proxy, or `init` a config directory (layer: xksproxy/cli).

Wires config -> backends -> Proxy -> HttpServer, and owns the process concerns: signals,
credential reload (SIGHUP and file polling), the "listening on" line that scripts and tests
read. Must not import kmscks.api, kmscks.service or kmscks.store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from pathlib import Path

from kmscks import version_string
from kmscks.logsetup import LEVELS, level_name
from kmscks.xksproxy import config as config_module
from kmscks.xksproxy.app import Proxy
from kmscks.xksproxy.backends.base import KeyBackend
from kmscks.xksproxy.config import API_ROOT, ConfigError, ProxyConfig, ServerConfig
from kmscks.xksproxy.errors import XksError
from kmscks.xksproxy.httpserver import HttpServer, tls_context

log = logging.getLogger("kmscks.xksproxy")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "init":
        from kmscks.xksproxy.init import main as init_main

        return init_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="cks xks-proxy",
        description="Run the bundled XKS proxy. `cks xks-proxy init DIR` writes a ready config.",
    )
    parser.add_argument("--config", required=True, help="the proxy's TOML config file")
    parser.add_argument("--version", action="version", version=version_string())
    parser.add_argument("--host", help="override server.host")
    parser.add_argument("--port", type=int, help="override server.port (0 picks a free port)")
    parser.add_argument(
        "--log-level",
        default="info",
        type=level_name,
        choices=LEVELS,
        help="debug, info (the default), warning or error; any case, as for cks serve",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = config_module.load(args.config)
        backends = _backends(config)
    except (ConfigError, XksError) as exc:
        sys.stderr.write(f"cks xks-proxy: {exc}\n")
        return 2
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    try:
        return asyncio.run(_serve(config, backends, host, port))
    except (OSError, ssl.SSLError) as exc:
        sys.stderr.write(f"cks xks-proxy: {exc}\n")
        return 1
    finally:
        for backend in backends.values():
            backend.close()


def _backends(config: ProxyConfig) -> dict[str, KeyBackend]:
    in_use = config.backends_in_use()
    backends: dict[str, KeyBackend] = {}
    if "software" in in_use or not in_use:
        from kmscks.xksproxy.backends.software import SoftwareBackend

        labels = [
            key.label
            for store in config.stores.values()
            for key in store.keys.values()
            if key.backend == "software"
        ]
        backends["software"] = SoftwareBackend(config.data_dir, labels)
    if "pkcs11" in in_use and config.pkcs11 is not None:
        # Imported only when used, so a software-only proxy starts without loading a module.
        from kmscks.xksproxy.backends.pkcs11 import Pkcs11Backend

        backends["pkcs11"] = Pkcs11Backend(config.pkcs11)
    return backends


async def _serve(config: ProxyConfig, backends: dict[str, KeyBackend], host: str, port: int) -> int:
    proxy = Proxy(config, backends)
    server = HttpServer(
        proxy.handle,
        config.server.idle_timeout_seconds,
        config.limits,
    )
    tls = config.server
    context = _tls(tls)
    bound = await server.start(host, port, context)
    scheme = "https" if context else "http"
    for prefix in config.stores:
        log.info("store %s%s (mTLS %s)", prefix, API_ROOT, "on" if tls.mtls_client_ca else "off")
    sys.stdout.write(f"cks xks-proxy listening on {scheme}://{host}:{bound}\n")
    sys.stdout.flush()

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(config.path, proxy, "SIGHUP"))
    watcher = asyncio.create_task(_watch(config.path, config.server.reload_interval_seconds, proxy))
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await server.close()
    log.info("stopped")
    return 0


def _tls(server: ServerConfig) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain HTTP."""
    if not (server.tls_cert and server.tls_key):
        return None
    return tls_context(
        server.tls_cert, server.tls_key, server.mtls_client_ca, server.mtls_client_name
    )


def _reload(path: Path, proxy: Proxy, why: str) -> None:
    try:
        new = config_module.load(path)
    except ConfigError as exc:
        log.error("reload (%s) failed, keeping the current credentials: %s", why, exc)
        return
    changed = proxy.reload_credentials(new)
    log.info("reload (%s): credentials changed for %s", why, changed or "no store")


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


async def _watch(path: Path, interval: float, proxy: Proxy) -> None:
    # Polling rather than inotify: portable, and a rotation within seconds is all that's needed.
    last = _stamp(path)
    while True:
        await asyncio.sleep(interval)
        stamp = _stamp(path)
        if stamp is not None and stamp != last:
            last = stamp
            _reload(path, proxy, "file change")
