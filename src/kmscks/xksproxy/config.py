"""The proxy's TOML configuration: parsing and validation (layer: xksproxy; stdlib only).

Every setting is documented in docs/xks-proxy.md. Relative paths are resolved against the
directory of the config file, so a config directory can be moved as a whole. Secrets
(credential secrets, the PKCS#11 PIN) are kept out of reprs so they never reach a log line.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API_ROOT = "/kms/xks/v1"
KEY_USAGES = ("ENCRYPT", "DECRYPT", "SIGN", "VERIFY", "WRAP", "UNWRAP")
BACKENDS = ("software", "pkcs11")

# Formats from the spec (../shared/contract/xks-proxy.md §1.2, §1.6).
_PREFIX = re.compile(r"(/[A-Za-z0-9/_-]+)?")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_ACCESS_KEY_ID = re.compile(r"[A-Z2-7]{20,30}")
_SECRET = re.compile(r"[A-Za-z0-9/+=]{43,64}")
_MAX_URI_PATH = 128


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; the message says where."""


@dataclass(frozen=True, slots=True)
class Credential:
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyConfig:
    id: str
    usage: frozenset[str]
    backend: str
    label: str  # the CKA_LABEL for pkcs11 keys; the id for software keys
    enabled: bool
    ciphertext_metadata: bytes


@dataclass(frozen=True, slots=True)
class StoreConfig:
    uri_path_prefix: str
    credentials: tuple[Credential, ...]
    keys: dict[str, KeyConfig]

    def secret_for(self, access_key_id: str) -> str | None:
        for credential in self.credentials:
            if credential.access_key_id == access_key_id:
                return credential.secret_access_key
        return None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str
    port: int
    region: str
    tls_cert: Path | None
    tls_key: Path | None
    mtls_client_ca: Path | None
    mtls_client_name: str | None
    reload_interval_seconds: float
    idle_timeout_seconds: float


@dataclass(frozen=True, slots=True)
class Pkcs11Config:
    module: Path
    token_label: str
    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ProxyLimits:
    """What one client may cost the proxy ([limits]; docs/operations.md)."""

    # The largest valid request is ~45 KiB (16 KiB plaintext + 16 KiB AAD, base64, metadata).
    max_request_bytes: int = 256 * 1024
    max_header_bytes: int = 16 * 1024  # request line and headers
    header_timeout_seconds: float = 10.0  # from a request's first byte to the end of its head
    body_timeout_seconds: float = 10.0  # from the head to the body's last byte
    max_connections: int = 256  # open at once; more are closed as soon as they are accepted


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    path: Path
    server: ServerConfig
    stores: dict[str, StoreConfig]  # by uri_path_prefix
    data_dir: Path
    pkcs11: Pkcs11Config | None
    limits: ProxyLimits = ProxyLimits()

    def backends_in_use(self) -> set[str]:
        return {key.backend for store in self.stores.values() for key in store.keys.values()}


def load(path: str | os.PathLike[str]) -> ProxyConfig:
    """Read and validate a config file; raises ConfigError with a readable message."""
    config_path = Path(path).resolve()
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {config_path}: {exc.strerror}")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}")
    return parse(raw, config_path)


def parse(raw: dict[str, Any], config_path: Path) -> ProxyConfig:
    base = config_path.parent
    _only(raw, "", {"server", "stores", "software", "pkcs11", "limits"})
    server = _server(_table(raw, "server"), base)
    stores_raw = raw.get("stores", [])
    if not isinstance(stores_raw, list) or not stores_raw:
        raise ConfigError("[[stores]]: at least one store is required")
    stores: dict[str, StoreConfig] = {}
    for index, store_raw in enumerate(stores_raw):
        store = _store(store_raw, f"stores[{index}]")
        if store.uri_path_prefix in stores:
            raise ConfigError(
                f"stores[{index}]: duplicate uri_path_prefix {store.uri_path_prefix!r}"
            )
        stores[store.uri_path_prefix] = store
    software = _table(raw, "software")
    _only(software, "software", {"data_dir"})
    data_dir = base / _string(software, "data_dir", "software", default="data")
    pkcs11 = _pkcs11(raw["pkcs11"], base) if "pkcs11" in raw else None
    config = ProxyConfig(config_path, server, stores, data_dir, pkcs11, _limits(raw))
    if "pkcs11" in config.backends_in_use() and pkcs11 is None:
        raise ConfigError("a key uses backend 'pkcs11' but there is no [pkcs11] section")
    return config


def _server(raw: dict[str, Any], base: Path) -> ServerConfig:
    _only(
        raw,
        "server",
        {
            "host",
            "port",
            "region",
            "tls_cert",
            "tls_key",
            "mtls_client_ca",
            "mtls_client_name",
            "reload_interval_seconds",
            "idle_timeout_seconds",
        },
    )
    port = raw.get("port", 9443)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError("server.port: must be an integer from 0 to 65535 (0 picks a free port)")
    cert, key, client_ca = (
        _optional_path(raw, name, base) for name in ("tls_cert", "tls_key", "mtls_client_ca")
    )
    if (cert is None) != (key is None):
        raise ConfigError("server.tls_cert and server.tls_key must be given together")
    if client_ca is not None and cert is None:
        raise ConfigError("server.mtls_client_ca needs TLS (server.tls_cert and server.tls_key)")
    client_name = raw.get("mtls_client_name")
    if client_name is not None and (not isinstance(client_name, str) or client_ca is None):
        raise ConfigError("server.mtls_client_name: a DNS name, and it needs server.mtls_client_ca")
    return ServerConfig(
        host=_string(raw, "host", "server", default="127.0.0.1"),
        port=port,
        region=_string(raw, "region", "server", default="us-east-1"),
        tls_cert=cert,
        tls_key=key,
        mtls_client_ca=client_ca,
        mtls_client_name=client_name,
        reload_interval_seconds=_number(raw, "reload_interval_seconds", "server", 2.0),
        idle_timeout_seconds=_number(raw, "idle_timeout_seconds", "server", 60.0),
    )


def _limits(raw: dict[str, Any]) -> ProxyLimits:
    table = _table(raw, "limits")
    _only(table, "limits", set(ProxyLimits.__dataclass_fields__))
    defaults = ProxyLimits()
    values: dict[str, Any] = {}
    for name in ("max_request_bytes", "max_header_bytes", "max_connections"):
        value = table.get(name, getattr(defaults, name))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"limits.{name}: must be a positive integer")
        values[name] = value
    if values["max_header_bytes"] < 1024:
        raise ConfigError("limits.max_header_bytes: must be at least 1024")
    for name in ("header_timeout_seconds", "body_timeout_seconds"):
        values[name] = _number(table, name, "limits", getattr(defaults, name))
    return ProxyLimits(**values)


def _store(raw: Any, where: str) -> StoreConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    _only(raw, where, {"uri_path_prefix", "credentials", "keys"})
    prefix = _string(raw, "uri_path_prefix", where, default="")
    if not _PREFIX.fullmatch(prefix) or prefix.endswith("/"):
        raise ConfigError(
            f"{where}.uri_path_prefix: {prefix!r} must be empty or '/'-led characters from "
            "[A-Za-z0-9/_-], without a trailing '/'"
        )
    if len(prefix + API_ROOT) > _MAX_URI_PATH:
        raise ConfigError(f"{where}.uri_path_prefix: the XksProxyUriPath would exceed 128 chars")
    credentials = _credentials(raw.get("credentials"), f"{where}.credentials")
    keys_raw = raw.get("keys", [])
    if not isinstance(keys_raw, list):
        raise ConfigError(f"{where}.keys: must be an array of tables ([[stores.keys]])")
    keys: dict[str, KeyConfig] = {}
    for index, key_raw in enumerate(keys_raw):
        key = _key(key_raw, f"{where}.keys[{index}]")
        if key.id in keys:
            raise ConfigError(f"{where}.keys[{index}]: duplicate key id {key.id!r}")
        keys[key.id] = key
    return StoreConfig(prefix, credentials, keys)


def _credentials(raw: Any, where: str) -> tuple[Credential, ...]:
    # Two pairs let an operator rotate: add the new pair, update KMS, then drop the old one.
    if not isinstance(raw, list) or not 1 <= len(raw) <= 2:
        raise ConfigError(f"{where}: give 1 or 2 {{access_key_id, secret_access_key}} pairs")
    result = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}[{index}]: must be a table")
        _only(item, f"{where}[{index}]", {"access_key_id", "secret_access_key"})
        akid = _string(item, "access_key_id", f"{where}[{index}]")
        secret = _string(item, "secret_access_key", f"{where}[{index}]")
        if not _ACCESS_KEY_ID.fullmatch(akid):
            raise ConfigError(f"{where}[{index}].access_key_id: 20-30 characters of [A-Z2-7]")
        if not _SECRET.fullmatch(secret):
            raise ConfigError(
                f"{where}[{index}].secret_access_key: 43-64 characters of [A-Za-z0-9/+=]"
            )
        result.append(Credential(akid, secret))
    if len({c.access_key_id for c in result}) != len(result):
        raise ConfigError(f"{where}: the two access_key_id values must differ")
    return tuple(result)


def _key(raw: Any, where: str) -> KeyConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    _only(raw, where, {"id", "usage", "backend", "label", "status", "ciphertext_metadata"})
    key_id = _string(raw, "id", where)
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigError(f"{where}.id: 1-128 characters of [A-Za-z0-9._-]")
    usage = raw.get("usage", ["ENCRYPT", "DECRYPT"])
    if not isinstance(usage, list) or any(u not in KEY_USAGES for u in usage):
        raise ConfigError(f"{where}.usage: a list of {', '.join(KEY_USAGES)}")
    backend = _string(raw, "backend", where, default="software")
    if backend not in BACKENDS:
        raise ConfigError(f"{where}.backend: one of {', '.join(BACKENDS)}")
    status = _string(raw, "status", where, default="ENABLED")
    if status not in ("ENABLED", "DISABLED"):
        raise ConfigError(f"{where}.status: ENABLED or DISABLED")
    metadata = _string(raw, "ciphertext_metadata", where, default="").encode()
    if len(metadata) > 20:
        raise ConfigError(f"{where}.ciphertext_metadata: at most 20 bytes (KMS rejects more)")
    return KeyConfig(
        id=key_id,
        usage=frozenset(usage),
        backend=backend,
        label=_string(raw, "label", where, default=key_id),
        enabled=status == "ENABLED",
        ciphertext_metadata=metadata,
    )


def _pkcs11(raw: Any, base: Path) -> Pkcs11Config:
    if not isinstance(raw, dict):
        raise ConfigError("[pkcs11]: must be a table")
    _only(raw, "pkcs11", {"module", "token_label", "pin", "pin_env"})
    if "pin_env" in raw:
        # Lets an operator keep the PIN out of the file.
        env_name = _string(raw, "pin_env", "pkcs11")
        pin = os.environ.get(env_name)
        if pin is None:
            raise ConfigError(f"pkcs11.pin_env: environment variable {env_name} is not set")
    else:
        pin = _string(raw, "pin", "pkcs11")
    return Pkcs11Config(
        module=base / _string(raw, "module", "pkcs11", default="/usr/lib/softhsm/libsofthsm2.so"),
        token_label=_string(raw, "token_label", "pkcs11"),
        pin=pin,
    )


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}]: must be a table")
    return value


def _only(raw: dict[str, Any], where: str, allowed: set[str]) -> None:
    # Unknown settings are errors, so a typo cannot silently leave a default in force.
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where or 'top level'}: unknown setting(s) {', '.join(unknown)}")


def _string(raw: dict[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = raw.get(name, default)
    if value is None:
        raise ConfigError(f"{where}.{name}: required")
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{name}: must be a string")
    return value


def _number(raw: dict[str, Any], name: str, where: str, default: float) -> float:
    value = raw.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where}.{name}: must be a positive number")
    return float(value)


def _optional_path(raw: dict[str, Any], name: str, base: Path) -> Path | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"server.{name}: must be a file path")
    return base / value
