"""The request log: one line per API request, on by default at `info`.

api layer; imports only the bottom layer (errors, the header view). The handler fills a
RequestTrace as it goes (operation, caller, error) and hands it here once the response is
built; `RequestLog.write` makes exactly one logging call. The line carries the request id,
account, region, operation, status, error code and duration; an authentication failure adds
its reason and the access key id (an identifier, not a secret: AWS logs it too). Never logged:
the Authorization header or the signature, request or response bodies, any other error's
message (a ValidationException can quote a member's value).

The formatting (text `key=value` or JSON) is kmscks.logsetup's, shared with every other line
the server prints.
"""

from __future__ import annotations

import logging
import re
from time import perf_counter

from kmscks import logsetup
from kmscks.errors import ServiceError
from kmscks.sigv4_sign import HeaderLookup

log = logging.getLogger("kmscks.request")

AUTHENTICATION_ERRORS = frozenset(
    {
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
    }
)
_CREDENTIAL = re.compile(r"Credential=([A-Za-z0-9]{1,128})/[0-9]{8}/([a-z0-9-]{1,64})/")
_MAX_TEXT = 200


class RequestTrace:
    """What the handler learned about one request, for its log line."""

    __slots__ = ("account_id", "error", "operation", "reason", "region", "request_id", "started")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.started = perf_counter()
        self.operation: str | None = None
        self.account_id: str | None = None
        self.region: str | None = None
        self.error: ServiceError | None = None
        # Why a request was refused, when the words are cks's own (a body limit's message).
        self.reason: str | None = None


def _reason(message: str) -> str:
    # Some SigV4 messages quote the Authorization header, as AWS's do; the log never does.
    return message.split("Authorization=", 1)[0].strip()[:_MAX_TEXT]


class RequestLog:
    """Writes the line of each finished request to the `kmscks.request` logger."""

    def __init__(self) -> None:
        # Bound once logging is configured (the server process is built after that).
        self._info = logsetup.fast_info(log)

    def write(self, trace: RequestTrace, headers: HeaderLookup, status: int) -> None:
        if trace.operation is None and trace.error is None:
            # Not an API request (the health check): only worth a line when debugging.
            if log.isEnabledFor(logging.DEBUG):
                log.debug("health check", extra={"fields": {"id": trace.request_id}})
            return
        if not log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {
            "id": trace.request_id,
            "account": trace.account_id or "-",
            "region": trace.region or "-",
            "op": trace.operation or "-",
            "status": status,
            "ms": round((perf_counter() - trace.started) * 1000, 2),
        }
        error = trace.error
        if error is not None:
            fields["error"] = error.code
            if trace.operation is None:
                # An unknown X-Amz-Target: what the client sent (escaped by the formatter).
                fields["target"] = headers.get("x-amz-target", "")[:_MAX_TEXT]
            if trace.reason is not None:
                fields["reason"] = trace.reason[:_MAX_TEXT]
            if error.code in AUTHENTICATION_ERRORS:
                fields["reason"] = _reason(error.message)
                credential = _CREDENTIAL.search(headers.get("authorization", ""))
                if credential:
                    fields["key"], fields["region"] = credential.groups()
        self._info("request", fields)
