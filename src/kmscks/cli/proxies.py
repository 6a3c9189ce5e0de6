"""HTTP(S) proxies from the environment, chosen the way botocore chooses them.

Layer: cli. `HTTPS_PROXY` / `HTTP_PROXY` (lower case wins) and `NO_PROXY`, with
urllib.request's rules (what botocore calls); urllib.request is imported only when a *_proxy
variable is set, so the usual start-up does not pay for it. Also botocore's masking of
credentials in proxy URLs for error messages, quirks included. Must not import server code.
"""

from __future__ import annotations

import base64
from typing import NamedTuple
from urllib.parse import unquote, urlsplit


class Proxy(NamedTuple):
    url: str
    host: str
    port: int
    authorization: str | None  # the Proxy-Authorization header value


def _environment_proxies(environ: dict[str, str]) -> dict[str, str]:
    """urllib.request.getproxies_environment() over `environ`: any case, then lower case wins
    (and an empty lower-case value removes one)."""
    proxies: dict[str, str] = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy"):
            proxies[name.lower()[:-6]] = value
    if "REQUEST_METHOD" in environ:
        proxies.pop("http", None)  # CVE-2016-1000110, as urllib does
    for name, value in environ.items():
        if name.endswith("_proxy"):
            if value:
                proxies[name.lower()[:-6]] = value
            else:
                proxies.pop(name.lower()[:-6], None)
    return proxies


def proxy_for(url: str, environ: dict[str, str]) -> Proxy | None:
    """The proxy for `url`, or None (no *_proxy variable, or NO_PROXY matches)."""
    if not any(name.lower().endswith("_proxy") for name in environ):
        return None
    import urllib.request

    proxies = _environment_proxies(environ)
    parts = urlsplit(url)
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - not in stubs
    if bypass(parts.netloc, proxies):
        return None
    proxy_url = proxies.get(parts.scheme)
    if not proxy_url:
        return None
    if "://" not in proxy_url:
        proxy_url = "http://" + proxy_url  # botocore's _fix_proxy_url
    proxy = urlsplit(proxy_url)
    authorization = None
    if proxy.username is not None:
        pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    default_port = 443 if proxy.scheme == "https" else 80
    return Proxy(proxy_url, proxy.hostname or "", proxy.port or default_port, authorization)


def masked(proxy_url: str) -> str:
    """botocore's mask_proxy_url: replaces the first occurrence of the user name and of the
    password with ***, wherever that occurrence is (so "http://u:p@h" becomes
    "htt***://***:p@h", exactly as the AWS CLI prints it)."""
    parts = urlsplit(proxy_url)
    if parts.username:
        proxy_url = proxy_url.replace(parts.username, "***", 1)
    if parts.password:
        proxy_url = proxy_url.replace(parts.password, "***", 1)
    return proxy_url
