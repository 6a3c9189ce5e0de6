"""Authentication of API requests: SigV4 with the caller's access key, mapped to an account.

api layer. The region is the credential scope's. Failures become AWS's authentication errors:
no Authorization header -> MissingAuthenticationTokenException, a garbled one ->
IncompleteSignatureException, an unknown key -> UnrecognizedClientException, a wrong or stale
signature -> InvalidSignatureException.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import NamedTuple

from kmscks import sigv4
from kmscks.config import Credential
from kmscks.errors import ServiceError
from kmscks.sigv4_sign import HeaderLookup

_REGION = re.compile(r"[a-z0-9-]{1,64}")

_ERROR_CODES = {
    sigv4.Reason.MISSING: "MissingAuthenticationTokenException",
    sigv4.Reason.INCOMPLETE: "IncompleteSignatureException",
    sigv4.Reason.UNKNOWN_KEY: "UnrecognizedClientException",
    sigv4.Reason.BAD_SIGNATURE: "InvalidSignatureException",
    sigv4.Reason.EXPIRED: "InvalidSignatureException",
    sigv4.Reason.WRONG_SCOPE: "InvalidSignatureException",
}


class Principal(NamedTuple):
    account_id: str
    region: str
    access_key_id: str
    principal_arn: str


class Authenticator:
    def __init__(self, credentials: Iterable[Credential], max_skew_seconds: int) -> None:
        self._credentials = {c.access_key_id: c for c in credentials}
        self._max_skew = max_skew_seconds

    def _secret_for(self, access_key_id: str) -> str | None:
        credential = self._credentials.get(access_key_id)
        return credential.secret_access_key if credential else None

    def authenticate(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: HeaderLookup,
        body: bytes,
        service: str,
    ) -> Principal:
        try:
            identity = sigv4.verify(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                service=service,
                secret_for=self._secret_for,
                now=time.time(),
                max_skew_seconds=self._max_skew,
            )
        except sigv4.SigV4Failure as failure:
            raise ServiceError(_ERROR_CODES[failure.reason], failure.message)
        if not _REGION.fullmatch(identity.region):
            raise ServiceError(
                "IncompleteSignatureException",
                f"Credential should be scoped to a valid region, not '{identity.region}'.",
            )
        credential = self._credentials[identity.access_key_id]
        return Principal(
            credential.account_id,
            identity.region,
            identity.access_key_id,
            credential.principal_arn,
        )
