"""One AWS JSON 1.1 request in, one response out, independent of the HTTP server.

api layer. Routing by X-Amz-Target to a registered API (a botocore model plus the explicit
{operation: coroutine} mapping that serves it, kmscks.registry), authentication, JSON parsing,
model-driven validation, the call, and model-driven serialization. Every failure is an AWS-style
error body; an unexpected exception is logged and answered as the model's internal error
without details.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kmscks.api.auth import Authenticator
from kmscks.api.model import ServiceModel
from kmscks.api.quota import RequestQuota
from kmscks.api.requestlog import RequestLog, RequestTrace
from kmscks.api.serialize import OutputSerializer
from kmscks.api.validation import InputValidator
from kmscks.caller import Caller
from kmscks.errors import INTERNAL_ERROR_CODE, ServiceError
from kmscks.registry import Operation, RegistryError
from kmscks.sigv4_sign import HeaderLookup

log = logging.getLogger(__name__)

Response = tuple[int, list[tuple[str, str]], bytes]

_CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class _Route:
    model: ServiceModel
    operation: str
    call: Operation
    validate: Callable[[dict[str, Any]], None]
    serialize: Callable[[dict[str, Any] | None], dict[str, Any]]
    internal_error: str
    validation_error: str
    quota: RequestQuota | None


class Api:
    """A service model bound to the coroutines that serve its operations.

    An operation of `operations` that the model lacks is a start-up error; one the model names
    but `operations` leaves out is answered with UnknownOperationException.
    """

    def __init__(
        self,
        model: ServiceModel,
        operations: Mapping[str, Operation],
        internal_error: str,
        validation_error: str = "ValidationException",
        quota: RequestQuota | None = None,
    ) -> None:
        validator = InputValidator(model)
        serializer = OutputSerializer(model)
        self.model = model
        self.routes: dict[str, _Route] = {}
        unknown = sorted(set(operations) - set(model.raw["operations"]))
        if unknown:
            raise RegistryError(f"not operations of the {model.name} model: {', '.join(unknown)}")
        for operation, call in operations.items():
            self.routes[operation] = _Route(
                model,
                operation,
                call,
                validator.for_operation(operation),
                serializer.for_operation(operation),
                internal_error,
                validation_error,
                quota,
            )


class RequestHandler:
    def __init__(
        self, apis: list[Api], authenticator: Authenticator, request_log: RequestLog | None = None
    ) -> None:
        self._routes: dict[str, _Route] = {}
        # Operations a model names that nothing here serves: told apart in the error message.
        self._unserved: set[str] = set()
        for api in apis:
            prefix = api.model.target_prefix
            for operation, route in api.routes.items():
                self._routes[f"{prefix}.{operation}"] = route
            self._unserved.update(
                f"{prefix}.{operation}"
                for operation in api.model.raw["operations"]
                if operation not in api.routes
            )
        self._authenticator = authenticator
        self._error_model = apis[0].model
        self._request_log = request_log

    async def handle(
        self, method: str, path: str, query: str, headers: HeaderLookup, body: bytes
    ) -> Response:
        trace = RequestTrace(_request_id())
        response = await self._respond(trace, method, path, query, headers, body)
        return self._logged(trace, headers, response)

    def refuse(self, headers: HeaderLookup, status: int, code: str, message: str) -> Response:
        """The answer to a request the HTTP adapter refused before its body was read (a body
        limit), logged like any other: its operation when the target names one, its status, its
        error and why (the adapter's own words, which quote nothing the client sent)."""
        trace = RequestTrace(_request_id())
        route = self._routes.get(headers.get("x-amz-target", ""))
        trace.operation = route.operation if route is not None else None
        trace.error = ServiceError(code, message)
        trace.reason = message
        response = _error(trace.request_id, status, code, message)
        response[1].append(("connection", "close"))
        return self._logged(trace, headers, response)

    def _logged(self, trace: RequestTrace, headers: HeaderLookup, response: Response) -> Response:
        """`response`, once the request's line is written (the one place that writes it)."""
        if self._request_log is not None:
            self._request_log.write(trace, headers, response[0])
        return response

    async def _respond(
        self,
        trace: RequestTrace,
        method: str,
        path: str,
        query: str,
        headers: HeaderLookup,
        body: bytes,
    ) -> Response:
        request_id = trace.request_id
        route: _Route | None = None
        try:
            if method == "GET" and path == "/_cks/health":
                return 200, [("content-type", "application/json")], b'{"status":"ok"}'
            target = headers.get("x-amz-target", "")
            route = self._routes.get(target)
            if route is None or method != "POST":
                raise _unknown_operation(target if target in self._unserved else None)
            trace.operation = route.operation
            principal = self._authenticator.authenticate(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                service=route.model.signing_name,
            )
            trace.account_id, trace.region = principal.account_id, principal.region
            if route.quota is not None:
                route.quota.take(route.operation, principal.account_id, principal.region)
            params = _parse_body(body)
            try:
                route.validate(params)
            except ServiceError as error:
                # Some services answer shape violations with their own error (CloudHSM's
                # CloudHsmInvalidRequestException); the wording stays AWS's.
                if error.code == "ValidationException":
                    raise ServiceError(route.validation_error, error.message)
                raise
            caller = Caller(
                principal.account_id, principal.region, principal.principal_arn, request_id
            )
            result = await route.call(caller, params)
            payload = orjson.dumps(route.serialize(result))
            return 200, _headers(request_id), payload
        except ServiceError as error:
            trace.error = error
            model = route.model if route else self._error_model
            return _error(request_id, model.error_status(error.code), error.code, error.message)
        except Exception:
            log.exception("request %s failed", request_id)
            code = route.internal_error if route else INTERNAL_ERROR_CODE
            trace.error = ServiceError(code, "")
            return _error(request_id, 500, code, "An internal error occurred. Retry the request.")


# A version 4 UUID: the version nibble 4 and the RFC 4122 variant bits 10.
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def _request_id() -> str:
    """A random (version 4) UUID, as str(uuid.uuid4()) gives it, in a quarter of the time.

    Request ids need to be unique, not secret: `random` (reseeded in each forked worker) saves
    the getrandom system call that uuid4 and os.urandom make per request.
    """
    text = f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _unknown_operation(unserved: str | None) -> ServiceError:
    if unserved is not None:
        operation = unserved.rpartition(".")[2]
        return ServiceError(
            "UnknownOperationException", f"This server does not serve the operation {operation}."
        )
    return ServiceError(
        "UnknownOperationException",
        "The operation in the X-Amz-Target header is not known to this server.",
    )


def _parse_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ServiceError("SerializationException", "The request body is not valid JSON.")
    if not isinstance(params, dict):
        raise ServiceError("SerializationException", "The request body must be a JSON object.")
    return params


def _headers(request_id: str) -> list[tuple[str, str]]:
    return [("content-type", _CONTENT_TYPE), ("x-amzn-requestid", request_id)]


def _error(request_id: str, status: int, code: str, message: str) -> Response:
    # An empty message is left out: KMS sends InvalidCiphertextException with none.
    body = {"__type": code, "message": message} if message else {"__type": code}
    return status, _headers(request_id), orjson.dumps(body)
