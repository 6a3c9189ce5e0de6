"""Reaching an external key store's proxy: where to connect, with which TLS, signed how.

connectors layer, shared by the health call (xks.py) and the key operations (xks_keys.py);
imports config, SigV4 signing and the HTTP client (http_client.py, http_connection.py), never
the service, store or api layers.

Reaching a proxy locally is explicit configuration, never silent: `[xks] resolve` maps an
endpoint host to a local address, `ca_bundle` adds trusted CAs, `allow_http` lets mapped hosts
be reached without TLS, and `system_dns = false` makes unmapped hosts unresolvable instead of
asking DNS. A VPC_ENDPOINT_SERVICE store is reached at its declared endpoint service's address.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from functools import cached_property

from kmscks.bounded import BoundedCache
from kmscks.config import VpcEndpointService, XksSettings
from kmscks.connectors.http_client import ConnectionPool, HttpResponse, post
from kmscks.connectors.http_connection import Target, client_tls_context
from kmscks.sigv4_sign import sign

SERVICE = "kms-xks-proxy"  # the SigV4 service name KMS signs proxy calls with


@dataclass(frozen=True)
class ProxySettings:
    """An external key store's proxy configuration, as the service reads it from the store."""

    connectivity: str
    uri_endpoint: str
    uri_path: str
    access_key_id: str
    secret_access_key: str
    vpc_service_name: str | None = None
    vpc_service_owner: str | None = None

    @property
    def host(self) -> str:
        return self.uri_endpoint.removeprefix("https://").lower()


_TARGET_CACHE_SIZE = 4096


class ProxyTransport:
    """Signed POSTs to a store's proxy, on fresh or on pooled keep-alive connections."""

    def __init__(self, settings: XksSettings, vpc_services: tuple[VpcEndpointService, ...]) -> None:
        self.settings = settings
        self.vpc_services = {service.name: service for service in vpc_services}
        self.pool = ConnectionPool()
        self._targets: BoundedCache[tuple[str, str, str | None], Target | None] = BoundedCache(
            _TARGET_CACHE_SIZE
        )

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take (`[xks] timeout_ms`, 250 ms like KMS)."""
        return self.settings.timeout_ms / 1000

    @cached_property
    def tls_context(self) -> ssl.SSLContext:
        settings = self.settings
        return client_tls_context(settings.ca_bundle, settings.client_cert, settings.client_key)

    def target(self, proxy: ProxySettings) -> Target | None:
        """Where the proxy is; None when its host is not mapped and system DNS is off.

        Kept per (connectivity, endpoint, endpoint service): the settings it derives from are
        fixed for the process, and every key call asks."""
        return self._targets.get(
            (proxy.connectivity, proxy.uri_endpoint, proxy.vpc_service_name),
            lambda: self._find_target(proxy),
        )

    def _find_target(self, proxy: ProxySettings) -> Target | None:
        host = proxy.host
        if proxy.connectivity == "VPC_ENDPOINT_SERVICE":
            service = self.vpc_services.get(proxy.vpc_service_name or "")
            address = service.address if service is not None else None
        else:
            address = self.settings.resolve.get(host)
        if address is None:
            if not self.settings.system_dns or proxy.connectivity == "VPC_ENDPOINT_SERVICE":
                return None
            return Target(host, 443, host, self.tls_context)
        connect_host, _, port = address.rpartition(":")
        tls = None if host in self.settings.allow_http else self.tls_context
        return Target(connect_host.strip("[]"), int(port), host, tls)

    async def post(
        self,
        proxy: ProxySettings,
        region: str,
        target: Target,
        path: str,
        body: bytes,
        pooled: bool,
    ) -> HttpResponse:
        """Sign `body` for the proxy (SigV4, service kms-xks-proxy) and POST it to `path`."""
        headers = sign(
            method="POST",
            host=target.host_header,
            path=path,
            headers={"Content-Type": "application/json"},
            body=body,
            access_key_id=proxy.access_key_id,
            secret=proxy.secret_access_key,
            region=region,
            service=SERVICE,
            now=time.time(),
        )
        if pooled:
            return await self.pool.post(target, path, headers, body, self.timeout)
        return await post(target, path, headers, body, self.timeout)
