"""Routing, SigV4 authentication and error rendering of the XKS proxy (layer: xksproxy/http).

Framework-free: `Proxy.handle` takes the method, the raw request target, lower-cased headers
and the body, and returns a `Response`. The HTTP server (httpserver.py) is the only caller.
May import kmscks.sigv4; must not import kmscks.api, kmscks.service or kmscks.store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kmscks import sigv4
from kmscks.xksproxy import operations
from kmscks.xksproxy.backends.base import KeyBackend
from kmscks.xksproxy.config import API_ROOT, ProxyConfig, StoreConfig
from kmscks.xksproxy.errors import (
    AuthenticationFailedException,
    InternalException,
    InvalidUriPathException,
    MethodNotAllowed,
    ValidationException,
    XksError,
)

log = logging.getLogger("kmscks.xksproxy")

SERVICE = "kms-xks-proxy"
MAX_SKEW_SECONDS = 300.0  # the spec's ±5 minutes

_KEY_OPERATIONS: dict[str, Callable[[operations.Context, str, Any], dict[str, Any]]] = {
    "metadata": operations.metadata,
    "encrypt": operations.encrypt,
    "decrypt": operations.decrypt,
}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def error_response(error: XksError) -> Response:
    body: dict[str, str] = {"errorName": error.name}
    if error.message:
        body["errorMessage"] = error.message
    extra = (("Allow", "POST"),) if isinstance(error, MethodNotAllowed) else ()
    return Response(error.status, json.dumps(body).encode(), headers=extra)


class Proxy:
    """The proxy's request handler; credentials can be swapped while it serves."""

    def __init__(self, config: ProxyConfig, backends: Mapping[str, KeyBackend]) -> None:
        self._region = config.server.region
        self._backends = backends
        self._stores = dict(config.stores)

    def reload_credentials(self, config: ProxyConfig) -> list[str]:
        """Take the credentials of `config` for the stores this proxy serves.

        Only credentials change at run time; a changed store list or key list needs a
        restart (the backends were built for it). Returns the prefixes whose credentials changed.
        """
        stores = dict(self._stores)
        changed = []
        for prefix, store in self._stores.items():
            new = config.stores.get(prefix)
            if new is None:
                log.warning(
                    "reload: store %r is gone from the config; restart to remove it", prefix
                )
            elif new.credentials != store.credentials:
                stores[prefix] = dataclasses.replace(store, credentials=new.credentials)
                changed.append(prefix)
        for prefix in config.stores.keys() - self._stores.keys():
            log.warning("reload: new store %r is ignored until a restart", prefix)
        self._stores = stores  # one assignment: a request sees the old or the new set, whole
        return changed

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        path, _, query = target.partition("?")
        if path == "/ping":
            return Response(200, b"pong", content_type="text/plain")
        try:
            return self._api(method, path, query, headers, body)
        except XksError as error:
            if error.status >= 500:
                log.error("%s %s: %s %s", method, path, error.name, error.message)
            elif not isinstance(error, AuthenticationFailedException):  # logged with its reason
                # Every refused request leaves a line; the message stays out (it can quote
                # what the client sent).
                log.info("refused %s %s: %s", method, operations.printable(path), error.name)
            return error_response(error)
        except Exception:
            log.exception("unexpected failure on %s %s", method, path)
            return error_response(InternalException("internal error"))

    def _api(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        store, operation, key_id = self._route(path)
        if method != "POST":
            raise MethodNotAllowed(f"{method} is not allowed; the XKS API uses POST")
        self._authenticate(store, method, path, query, headers, body)
        try:
            document = json.loads(body) if body else None
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise ValidationException("the request body is not valid JSON")
        ctx = operations.Context(store, self._backends)
        if operation == "health":
            result = operations.health(ctx, document)
            if operations.health_is_unavailable(result):
                log.warning("health for %r: every EKM is UNAVAILABLE", store.uri_path_prefix)
        else:
            result = _KEY_OPERATIONS[operation](ctx, key_id, document)
        return Response(200, json.dumps(result, separators=(",", ":")).encode())

    def _route(self, path: str) -> tuple[StoreConfig, str, str]:
        for prefix, store in self._stores.items():
            root = prefix + API_ROOT
            if not path.startswith(root + "/"):
                continue
            rest = path[len(root) :].split("/")  # ["", "health"] or ["", "keys", id, op]
            if rest == ["", "health"]:
                return store, "health", ""
            if len(rest) == 4 and rest[1] == "keys" and rest[2] and rest[3] in _KEY_OPERATIONS:
                return store, rest[3], rest[2]
        raise InvalidUriPathException("no XKS operation at this URI path")

    def _authenticate(
        self,
        store: StoreConfig,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        try:
            identity = sigv4.verify(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                service=SERVICE,
                secret_for=store.secret_for,
                now=time.time(),
                max_skew_seconds=MAX_SKEW_SECONDS,
            )
        except sigv4.SigV4Failure as failure:
            log.info("SigV4 rejected (%s) on %s", failure.reason.value, path)
            raise AuthenticationFailedException(failure.message)
        if identity.region != self._region:
            log.info(
                "SigV4 rejected (region %s) on %s", operations.printable(identity.region), path
            )
            raise AuthenticationFailedException(
                f"the credential scope names region {identity.region}, not {self._region}"
            )
