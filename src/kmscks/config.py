"""Server configuration: the `--config` TOML file of `cks serve`, checked at start-up.

Every setting is documented in docs/configuration.md. Relative paths are taken relative to the
config file's folder. An unknown or mistyped setting stops the server with a clear message
rather than being ignored. Imports nothing from the other layers.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ACCESS_KEY_ID = "test"
DEFAULT_SECRET_ACCESS_KEY = "test"
DEFAULT_ACCOUNT_ID = "000000000000"
# An IAM user or role, or an STS assumed role; group 1 is the account.
_PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):[\w+=,.@/-]+")


class ConfigError(Exception):
    """The config file cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    account_id: str
    # The IAM principal the key stands for (what an XKS proxy sees as awsPrincipalArn).
    principal_arn: str = ""

    def __post_init__(self) -> None:
        if not self.principal_arn:
            object.__setattr__(self, "principal_arn", f"arn:aws:iam::{self.account_id}:root")


@dataclass(frozen=True)
class VpcEndpointService:
    """A VPC endpoint service that VPC_ENDPOINT_SERVICE external key stores may use."""

    name: str
    owner: str
    private_dns_name: str
    address: str  # host:port where the proxy behind the service listens
    # The requirements KMS checks (XksProxyVpcEndpointServiceInvalidConfigurationException):
    acceptance_required: bool = False
    availability_zones: int = 2
    private_dns_verified: bool = True
    # Whether the service allows the cks.kms.<region>.amazonaws.com principal.
    allows_kms: bool = True


@dataclass(frozen=True)
class XksSettings:
    resolve: dict[str, str] = field(default_factory=dict)
    ca_bundle: Path | None = None
    allow_http: frozenset[str] = frozenset()
    timeout_ms: int = 250
    retries: int = 1
    system_dns: bool = True
    client_cert: Path | None = None
    client_key: Path | None = None


@dataclass(frozen=True)
class Subnet:
    """A subnet of the simulated network that CloudHSM clusters can use."""

    id: str
    availability_zone: str
    vpc_id: str = "vpc-0c5a1b2c3d4e5f601"
    free_addresses: int = 16

    @property
    def region(self) -> str:
        return self.availability_zone[:-1]


@dataclass(frozen=True)
class CloudHsmSettings:
    transition_ms: int = 200  # how long CREATE/INITIALIZE/DELETE_IN_PROGRESS last
    kmsuser_max_failed_logins: int = 3  # failed logins that lock the kmsuser out
    # Declared subnets; none declared: three subnets in every region (docs/cloudhsm.md).
    subnets: tuple[Subnet, ...] = ()


@dataclass(frozen=True)
class HttpLimits:
    """What one client may cost a worker (docs/operations.md): `[limits]` in the config."""

    # A KMS request is a few KiB at most; 1 MiB leaves room and stops memory abuse.
    max_request_bytes: int = 1024 * 1024
    max_header_bytes: int = 64 * 1024  # request line and headers
    header_timeout_seconds: float = 10.0  # from the connection (or the last answer) to the headers
    body_timeout_seconds: int = 10  # from the headers to the body's last byte
    # Per worker: what bodies being read at once may hold beyond their first 64 KiB each.
    max_body_buffer_bytes: int = 16 * 1024 * 1024
    # Connections a worker serves at once; more wait in the listen backlog.
    max_connections_per_worker: int = 1024
    # HTTP/2 (prior knowledge) beside HTTP/1.1: off by default. granian's protocol detection
    # waits without a timeout for a connection's first bytes, so with HTTP/2 allowed a client
    # that connects and sends nothing holds its connection; HTTP/1.1 only closes it after
    # header_timeout. AWS SDKs and the AWS CLI speak HTTP/1.1 to KMS.
    http2: bool = False


# Each limit's TOML key in [limits], its type and its smallest value.
_HTTP_LIMITS: tuple[tuple[str, type | tuple[type, ...], float], ...] = (
    ("max_request_bytes", int, 1024),
    ("max_header_bytes", int, 8192),  # granian's (hyper's) smallest read buffer
    ("header_timeout_seconds", (int, float), 0.1),
    ("body_timeout_seconds", int, 1),
    ("max_body_buffer_bytes", int, 1024 * 1024),
    ("max_connections_per_worker", int, 1),
    ("http2", bool, 0),
)


@dataclass(frozen=True)
class ServerConfig:
    credentials: tuple[Credential, ...] = (
        Credential(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_ACCOUNT_ID),
    )
    xks: XksSettings = XksSettings()
    vpc_endpoint_services: tuple[VpcEndpointService, ...] = ()
    cloudhsm: CloudHsmSettings = CloudHsmSettings()
    master_key: str | None = None
    custom_key_store_quota: int = 10
    # AWS's request quota per operation, account and Region; 0: not enforced (api/quota.py).
    requests_per_second: int = 0
    transition_delay_ms: int = 100
    lease_seconds: float = 10.0
    max_clock_skew_seconds: int = 900
    default_page_size: int = 100
    # [keys]: the length of a "day" for key deletion windows (86,400 s; shorter for tests and
    # demos) and the customer managed keys allowed per account and Region.
    day_seconds: float = 86400.0
    max_keys_per_region: int = 100_000
    # [keys] crypto_requests_per_second: the crypto quota of each custom key store (AWS: 1,800
    # for all accounts together); 0 leaves it off, like the request quota.
    crypto_requests_per_second: int = 0
    http_limits: HttpLimits = HttpLimits()


_SECTIONS = {
    "server",
    "limits",
    "credentials",
    "xks",
    "vpc_endpoint_services",
    "cloudhsm",
    "keys",
}


# Settings whose values are secrets: an error about them never quotes the value.
_SECRET_SETTINGS = frozenset({"secret_access_key", "master_key"})


def _take(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table.pop(key)
    shown = "a secret value" if key in _SECRET_SETTINGS else repr(value)
    if isinstance(value, bool) and kind in (int, float):
        raise ConfigError(f"{where}.{key} must be a number, not {shown}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key} must be of type {names}, not {shown}")
    return value


def _entry(item: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict:
    """An array-of-tables entry as a dict, its setting names checked: unknown ones first (a
    misspelt required setting is reported by the name it was given), then missing ones."""
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a table")
    table = dict(item)
    _no_leftovers({k: v for k, v in table.items() if k not in (*required, *optional)}, where)
    missing = [name for name in required if name not in table]
    if missing:
        raise ConfigError(f"{where} needs {', '.join(missing)}")
    return table


def _no_leftovers(table: dict[str, Any], where: str) -> None:
    if table:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(table))}")


def _path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _credentials(items: Any, builtin: Credential) -> tuple[Credential, ...]:
    if not isinstance(items, list):
        raise ConfigError("[[credentials]] must be an array of tables")
    found = [builtin]
    for index, item in enumerate(items):
        where = f"credentials[{index}]"
        table = _entry(
            item, where, ("access_key_id", "secret_access_key", "account_id"), ("principal_arn",)
        )
        credential = Credential(
            _take(table, "access_key_id", str, where),
            _take(table, "secret_access_key", str, where),
            _take(table, "account_id", str, where),
        )
        principal_arn = table.pop("principal_arn", credential.principal_arn)
        if not (len(credential.account_id) == 12 and credential.account_id.isdigit()):
            raise ConfigError(f"{where}.account_id must be 12 digits")
        arn = _PRINCIPAL_ARN.fullmatch(str(principal_arn))
        if arn is None or arn.group(1) != credential.account_id:
            raise ConfigError(
                f"{where}.principal_arn must be an IAM ARN of account {credential.account_id},"
                f" such as arn:aws:iam::{credential.account_id}:user/NAME, not {principal_arn!r}"
            )
        credential = dataclasses.replace(credential, principal_arn=principal_arn)
        if any(c.access_key_id == credential.access_key_id for c in found):
            raise ConfigError(f"{where}.access_key_id {credential.access_key_id!r} is repeated")
        found.append(credential)
    return tuple(found)


def _xks(table: dict[str, Any], base: Path) -> XksSettings:
    table = dict(table)
    settings: dict[str, Any] = {}
    if "resolve" in table:
        resolve = _take(table, "resolve", dict, "xks")
        for host, address in resolve.items():
            if not isinstance(address, str) or ":" not in address:
                raise ConfigError(f"xks.resolve[{host!r}] must be 'host:port'")
        settings["resolve"] = {host.lower(): address for host, address in resolve.items()}
    for name in ("ca_bundle", "client_cert", "client_key"):
        if name in table:
            settings[name] = _path(base, _take(table, name, str, "xks"))
    if "allow_http" in table:
        settings["allow_http"] = frozenset(
            h.lower() for h in _take(table, "allow_http", list, "xks")
        )
    for name in ("timeout_ms", "retries"):
        if name in table:
            settings[name] = _take(table, name, int, "xks")
    if "system_dns" in table:
        settings["system_dns"] = _take(table, "system_dns", bool, "xks")
    _no_leftovers(table, "[xks]")
    if ("client_cert" in settings) != ("client_key" in settings):
        raise ConfigError("xks.client_cert and xks.client_key go together")
    _check_tls_files(
        settings.get("ca_bundle"), settings.get("client_cert"), settings.get("client_key")
    )
    return XksSettings(**settings)


def _check_tls_files(ca_bundle: Path | None, cert: Path | None, key: Path | None) -> None:
    """Load the [xks] TLS files once at start-up, so a missing or unreadable one stops the
    server with its name instead of failing every request to a proxy later."""
    import ssl

    context = ssl.create_default_context()
    for name, path in (("ca_bundle", ca_bundle), ("client_cert", cert), ("client_key", key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"xks.{name}: no such file: {path}")
    try:
        if ca_bundle is not None:
            context.load_verify_locations(ca_bundle)
    except (ssl.SSLError, OSError) as error:
        raise ConfigError(f"xks.ca_bundle: not a PEM certificate bundle: {ca_bundle} ({error})")
    try:
        if cert is not None:
            context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as error:
        raise ConfigError(
            f"xks.client_cert / xks.client_key: not a PEM certificate and its key: {cert},"
            f" {key} ({error})"
        )


def _vpc_services(items: Any) -> tuple[VpcEndpointService, ...]:
    if not isinstance(items, list):
        raise ConfigError("[[vpc_endpoint_services]] must be an array of tables")
    services = []
    for index, item in enumerate(items):
        where = f"vpc_endpoint_services[{index}]"
        table = _entry(
            item,
            where,
            ("name", "owner", "private_dns_name", "address"),
            ("acceptance_required", "availability_zones", "private_dns_verified", "allows_kms"),
        )
        values: dict[str, Any] = {
            name: _take(table, name, str, where)
            for name in ("name", "owner", "private_dns_name", "address")
        }
        for name, kind in (
            ("acceptance_required", bool),
            ("availability_zones", int),
            ("private_dns_verified", bool),
            ("allows_kms", bool),
        ):
            if name in table:
                values[name] = _take(table, name, kind, where)
        services.append(VpcEndpointService(**values))
    return tuple(services)


def _cloudhsm(table: dict[str, Any]) -> CloudHsmSettings:
    table = dict(table)
    values: dict[str, Any] = {}
    for name in ("transition_ms", "kmsuser_max_failed_logins"):
        if name in table:
            values[name] = _take(table, name, int, "cloudhsm")
    subnets = []
    for index, item in enumerate(table.pop("subnets", [])):
        where = f"cloudhsm.subnets[{index}]"
        entry = _entry(item, where, ("id", "availability_zone"), ("vpc_id", "free_addresses"))
        subnet: dict[str, Any] = {
            "id": _take(entry, "id", str, where),
            "availability_zone": _take(entry, "availability_zone", str, where),
        }
        if "vpc_id" in entry:
            subnet["vpc_id"] = _take(entry, "vpc_id", str, where)
        if "free_addresses" in entry:
            subnet["free_addresses"] = _take(entry, "free_addresses", int, where)
        subnets.append(Subnet(**subnet))
    values["subnets"] = tuple(subnets)
    _no_leftovers(table, "[cloudhsm]")
    return CloudHsmSettings(**values)


def load_config(path: Path | None) -> ServerConfig:
    """Read and check a config file; None gives the defaults."""
    if path is None:
        return ServerConfig()
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}")
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}")
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ConfigError(f"unknown section(s) in {path}: {', '.join(sorted(unknown))}")
    base = path.parent
    defaults = ServerConfig()
    values: dict[str, Any] = {}
    values["credentials"] = _credentials(data.get("credentials", []), defaults.credentials[0])
    if "xks" in data:
        values["xks"] = _xks(data["xks"], base)
    if "vpc_endpoint_services" in data:
        values["vpc_endpoint_services"] = _vpc_services(data["vpc_endpoint_services"])
    if "cloudhsm" in data:
        values["cloudhsm"] = _cloudhsm(data["cloudhsm"])
    server = dict(data.get("server", {}))
    for name, kind in (
        ("master_key", str),
        ("transition_delay_ms", int),
        ("lease_seconds", (int, float)),
        ("max_clock_skew_seconds", int),
        ("default_page_size", int),
    ):
        if name in server:
            values[name] = _take(server, name, kind, "server")
    _no_leftovers(server, "[server]")
    limits = dict(data.get("limits", {}))
    if "custom_key_stores" in limits:
        values["custom_key_store_quota"] = _take(limits, "custom_key_stores", int, "limits")
    if "requests_per_second" in limits:
        rate = _take(limits, "requests_per_second", int, "limits")
        if rate < 0:
            raise ConfigError(f"limits.requests_per_second must be 0 (off) or more, not {rate}")
        values["requests_per_second"] = rate
    http_limits: dict[str, Any] = {}
    for key, key_kind, smallest in _HTTP_LIMITS:
        if key in limits:
            value = _take(limits, key, key_kind, "limits")
            if value < smallest:
                raise ConfigError(f"limits.{key} must be at least {smallest:g}, not {value}")
            http_limits[key] = value
    values["http_limits"] = HttpLimits(**http_limits)
    _no_leftovers(limits, "[limits]")
    values.update(_keys(data.get("keys", {})))
    return ServerConfig(**values)


def _keys(table: dict[str, Any]) -> dict[str, Any]:
    table = dict(table)
    values: dict[str, Any] = {}
    if "day_seconds" in table:
        day = _take(table, "day_seconds", (int, float), "keys")
        if isinstance(day, bool) or day <= 0:
            raise ConfigError(f"keys.day_seconds must be more than 0, not {day}")
        values["day_seconds"] = float(day)
    if "max_keys_per_region" in table:
        quota = _take(table, "max_keys_per_region", int, "keys")
        if quota < 1:
            raise ConfigError(f"keys.max_keys_per_region must be 1 or more, not {quota}")
        values["max_keys_per_region"] = quota
    if "crypto_requests_per_second" in table:
        rate = _take(table, "crypto_requests_per_second", int, "keys")
        if rate < 0:
            raise ConfigError(
                f"keys.crypto_requests_per_second must be 0 (off) or more, not {rate}"
            )
        values["crypto_requests_per_second"] = rate
    _no_leftovers(table, "[keys]")
    return values
