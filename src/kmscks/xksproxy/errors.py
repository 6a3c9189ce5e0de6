"""The XKS proxy's error vocabulary (layer: xksproxy; imports nothing from kmscks).

Every failure a client can see is an `XksError` carrying the spec's errorName and HTTP status
(../shared/contract/xks-proxy.md §1.5). The tree:

    XksError
      ValidationException            400  malformed request (body, metadata, base64, algorithm)
      InvalidStateException          400  the key is DISABLED
      InvalidCiphertextException     400  the GCM tag does not verify (tampering, wrong AAD)
      InvalidKeyUsageException       400  the key may not do this operation
      AuthenticationFailedException  401  SigV4 failed (any reason)
      KeyNotFoundException           404  no such external key id in this store
      InvalidUriPathException        404  no store or operation at this path
      MethodNotAllowed               405  not a POST (plain HTTP status, no XKS name in the spec)
      InternalException              500  the backend failed (token gone, module error)

Only InternalException is a 500; bad input never produces one.
"""

from __future__ import annotations

import re

_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_MAX_MESSAGE = 511  # the spec allows fewer than 512 printable ASCII characters


class XksError(Exception):
    """An error answered as `{"errorName", "errorMessage"}` with `status`."""

    name = "InternalException"
    status = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = _NOT_PRINTABLE.sub("?", message)[:_MAX_MESSAGE]


class ValidationException(XksError):
    name = "ValidationException"
    status = 400


class InvalidStateException(XksError):
    name = "InvalidStateException"
    status = 400


class InvalidCiphertextException(XksError):
    name = "InvalidCiphertextException"
    status = 400


class InvalidKeyUsageException(XksError):
    name = "InvalidKeyUsageException"
    status = 400


class AuthenticationFailedException(XksError):
    name = "AuthenticationFailedException"
    status = 401


class KeyNotFoundException(XksError):
    name = "KeyNotFoundException"
    status = 404


class InvalidUriPathException(XksError):
    name = "InvalidUriPathException"
    status = 404


class MethodNotAllowed(XksError):
    name = "MethodNotAllowed"
    status = 405


class InternalException(XksError):
    name = "InternalException"
    status = 500
