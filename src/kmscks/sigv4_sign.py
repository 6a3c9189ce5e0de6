"""SigV4 signing: the signing key, the canonical request and a signed request's headers.

Shared by everything in cks that signs or checks signatures (the XKS client, `cks kms`,
`cks cloudhsm`, and the verifier in kmscks.sigv4). Imports only the standard library's hashing
and quoting, so a client that starts often (`cks kms`) can use it without cost.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from functools import lru_cache
from time import gmtime, strftime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from hashlib import _Hash

ALGORITHM = "AWS4-HMAC-SHA256"


class HeaderLookup(Protocol):
    """Request headers by lower-case name: a dict, or an HTTP server's own header view.

    The servers pass granian's header object as it is: copying it into a dict cost ~10 us of
    CPU per request under load (docs/benchmarks.md).
    """

    def get(self, key: str, default: str, /) -> str: ...

    def __contains__(self, key: object, /) -> bool: ...


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key (four HMACs; `signature` keeps what it derives from it)."""
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode(), "sha256")


@lru_cache(maxsize=1024)
def _keyed_states(secret: str, date: str, region: str, service: str) -> tuple[_Hash, _Hash]:
    """HMAC-SHA256's inner and outer hash states for the signing key (RFC 2104), computed once."""
    block = signing_key(secret, date, region, service).ljust(64, b"\0")  # SHA-256's block size
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))
    return inner, outer


def credential_scope(date: str, region: str, service: str) -> str:
    """The scope a signature is made for (the Credential's part after the access key id)."""
    return f"{date}/{region}/{service}/aws4_request"


def signature(secret: str, amz_date: str, region: str, service: str, canonical: str) -> str:
    """The hex SigV4 signature of the canonical request `canonical` made at `amz_date`.

    The HMAC of the string to sign under `signing_key(...)`, continued from the key's cached
    states rather than `hmac.digest`: that asks OpenSSL to look SHA-256 up on every call, which
    cost ~10 us per signature in a loaded server; copying a hash state does not
    (docs/benchmarks.md).
    """
    date = amz_date[:8]
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            amz_date,
            credential_scope(date, region, service),
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )
    inner, outer = _keyed_states(secret, date, region, service)
    inner = inner.copy()
    inner.update(string_to_sign.encode())
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


@lru_cache(maxsize=256)  # a server sees few distinct paths ("/" for every KMS request)
def _canonical_path(path: str) -> str:
    return quote(path or "/", safe="/~")


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append(
            (quote(unquote(key), safe="-_.~"), quote(unquote(value.replace("+", " ")), safe="-_.~"))
        )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: HeaderLookup,
    signed_headers: tuple[str, ...],
    payload_hash: str,
) -> str:
    """The SigV4 canonical request; `headers` has lower-case names."""
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers
    )
    return "\n".join(
        (
            method.upper(),
            _canonical_path(path),
            _canonical_query(query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        )
    )


def sign(
    *,
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    secret: str,
    region: str,
    service: str,
    now: float,
) -> dict[str, str]:
    """Sign a request; returns `headers` plus Host, X-Amz-Date and Authorization.

    Signs host, x-amz-date and every header given, as KMS does towards an XKS proxy.
    """
    amz_date = _format_amz_date(now)
    date = amz_date[:8]
    lowered = {name.lower(): value for name, value in headers.items()}
    lowered["host"] = host
    lowered["x-amz-date"] = amz_date
    signed_headers = tuple(sorted(lowered))
    payload_hash = hashlib.sha256(body).hexdigest()
    request = canonical_request(method, path, "", lowered, signed_headers, payload_hash)
    signed = dict(headers)
    signed["Host"] = host
    signed["X-Amz-Date"] = amz_date
    signed["Authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{credential_scope(date, region, service)}, "
        f"SignedHeaders={';'.join(signed_headers)}, "
        f"Signature={signature(secret, amz_date, region, service, request)}"
    )
    return signed


@lru_cache(maxsize=4)  # a busy signer signs many requests in the same second
def _amz_date_of_second(second: int) -> str:
    return strftime("%Y%m%dT%H%M%SZ", gmtime(second))


def _format_amz_date(now: float) -> str:
    return _amz_date_of_second(int(now))
