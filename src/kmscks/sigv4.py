"""AWS Signature Version 4: verifying signed requests.

Shared by every server in cks: the KMS and CloudHSM APIs (services `kms`, `cloudhsm`) and the
bundled XKS proxy (`kms-xks-proxy`). It knows nothing of HTTP frameworks: callers hand it the
method, the raw path and query, lower-cased headers and the body. Each caller maps the
`SigV4Failure.reason` to its own error vocabulary (KMS exceptions, XKS 401s).

Signing lives in kmscks.sigv4_sign (re-exported here). The canonical request is rebuilt from
the request's own SignedHeaders list, because clients differ in what they sign (botocore,
curl --aws-sigv4 and requests-aws4auth all sign different sets; xks-proxy.md §1.6).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from calendar import timegm
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import NamedTuple

from kmscks.sigv4_sign import (
    ALGORITHM,
    HeaderLookup,
    canonical_request,
    sign,
    signature,
    signing_key,
)

__all__ = [
    "Reason",
    "SigV4Failure",
    "SignedIdentity",
    "canonical_request",
    "sign",
    "signing_key",
    "verify",
]

_AUTH_PARAM = re.compile(r"\s*([A-Za-z]+)\s*=\s*([^,\s]*)\s*")
# The form every SDK sends, matched in one step (the general parser handles any other order).
_USUAL_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)"
)
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


class Reason(Enum):
    """Why a request's signature was not accepted."""

    MISSING = "missing"  # no Authorization header at all
    INCOMPLETE = "incomplete"  # a header that is not a complete SigV4 authorization
    UNKNOWN_KEY = "unknown_key"  # the access key id is not known
    BAD_SIGNATURE = "bad_signature"  # the signature does not match
    EXPIRED = "expired"  # X-Amz-Date is too far from now
    WRONG_SCOPE = "wrong_scope"  # the credential scope names another service or date


class SigV4Failure(Exception):
    """A request whose signature is not valid: `reason` says why, `message` tells the user."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SignedIdentity(NamedTuple):
    """Who signed a request that passed verification."""

    access_key_id: str
    region: str
    service: str


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~3x as much
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def _parse_authorization(header: str) -> _Authorization:
    usual = _USUAL_AUTHORIZATION.fullmatch(header)
    if usual:
        key, date, region, service, signed, signature = usual.groups()
        return _Authorization(key, date, region, service, tuple(signed.split(";")), signature)
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SigV4Failure(
            Reason.INCOMPLETE,
            f"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            f"header. Unsupported algorithm in Authorization header: {algorithm or header}",
        )
    params: dict[str, str] = {}
    for part in rest.split(","):
        match = _AUTH_PARAM.fullmatch(part)
        if match:
            params[match.group(1)] = match.group(2)
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in params]
    if missing:
        raise SigV4Failure(
            Reason.INCOMPLETE,
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={header}",
        )
    scope = params["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise SigV4Failure(
            Reason.INCOMPLETE,
            f"Credential should be scoped to a valid region, not '{params['Credential']}'. ",
        )
    signed_headers = tuple(params["SignedHeaders"].split(";"))
    return _Authorization(
        access_key_id=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=signed_headers,
        signature=params["Signature"],
    )


@lru_cache(maxsize=64)  # requests signed in the same second share it
def _amz_date_epoch(amz_date: str) -> float:
    """Seconds since the epoch of an ISO 8601 basic date (20261128T111100Z); ValueError if not."""
    match = _AMZ_DATE.fullmatch(amz_date)
    if not match:
        raise ValueError(amz_date)
    year, month, day, hour, minute, second = map(int, match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError(amz_date)
    return float(timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def verify(
    *,
    method: str,
    path: str,
    query: str,
    headers: HeaderLookup,
    body: bytes,
    service: str,
    secret_for: Callable[[str], str | None],
    now: float,
    max_skew_seconds: float,
) -> SignedIdentity:
    """Verify a SigV4 header-signed request, or raise SigV4Failure.

    `headers` gives values by lower-case name. `secret_for` returns the secret of an access key
    id, or None when the key is unknown.
    """
    header = headers.get("authorization", "")
    if not header:
        raise SigV4Failure(Reason.MISSING, "Missing Authentication Token")
    auth = _parse_authorization(header)
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = _amz_date_epoch(amz_date)
    except ValueError:
        raise SigV4Failure(
            Reason.INCOMPLETE,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            f" Authorization={header}",
        )
    if "host" not in auth.signed_headers:
        raise SigV4Failure(Reason.INCOMPLETE, "'Host' or ':authority' must be a 'SignedHeader'")
    if auth.service != service:
        raise SigV4Failure(
            Reason.WRONG_SCOPE,
            f"Credential should be scoped to correct service: '{service}'. ",
        )
    if auth.date != amz_date[:8]:
        raise SigV4Failure(
            Reason.WRONG_SCOPE,
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date}' != '{amz_date[:8]}', from '{amz_date}'.",
        )
    secret = secret_for(auth.access_key_id)
    if secret is None:
        raise SigV4Failure(
            Reason.UNKNOWN_KEY, "The security token included in the request is invalid."
        )
    if abs(now - signed_at) > max_skew_seconds:
        raise SigV4Failure(
            Reason.EXPIRED,
            f"Signature expired: {amz_date} is now earlier than the allowed window "
            f"(+/- {int(max_skew_seconds // 60)} min. around the server's time).",
        )
    payload_hash = hashlib.sha256(body).hexdigest()
    request = canonical_request(method, path, query, headers, auth.signed_headers, payload_hash)
    # auth.date is amz_date's day (checked above), the day `signature` scopes it to.
    expected = signature(secret, amz_date, auth.region, auth.service, request)
    if not hmac.compare_digest(expected, auth.signature):
        raise SigV4Failure(
            Reason.BAD_SIGNATURE,
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.",
        )
    return SignedIdentity(auth.access_key_id, auth.region, auth.service)
