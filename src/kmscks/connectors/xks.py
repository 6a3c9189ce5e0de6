"""The KMS side of an external key store: VPC endpoint service checks and the proxy health call.

connectors layer. `XksConnector.check` answers an Outcome; OUTCOMES is the one table that maps
each outcome to the exception Create/Update answer and to the ConnectionErrorCode a Connect
ends with (../shared/contract/xks-proxy.md §1.5, §2.2; docs/decisions.md for our choices).

How a proxy is reached ([xks] settings, TLS, SigV4) lives in xks_transport.py; the key
operations (GetKeyMetadata, Encrypt, Decrypt) in xks_keys.py, reachable as `XksConnector.keys`.
The health call opens a fresh connection every time, so that each Create, Update and Connect
tests the whole path (resolve, TCP, TLS) rather than a connection that once worked.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import orjson

from kmscks.config import VpcEndpointService, XksSettings
from kmscks.connectors.http_connection import Failure, HttpFailure, Target
from kmscks.connectors.xks_keys import XksKeyClient
from kmscks.connectors.xks_transport import ProxySettings, ProxyTransport

log = logging.getLogger(__name__)


class Outcome(Enum):
    HEALTHY = "healthy"
    NOT_REACHABLE = "not_reachable"
    TIMED_OUT = "timed_out"
    INVALID_TLS = "invalid_tls"
    INVALID_CREDENTIALS = "invalid_credentials"
    ACCESS_DENIED = "access_denied"
    INVALID_CONFIGURATION = "invalid_configuration"
    INVALID_RESPONSE = "invalid_response"
    ALL_EKMS_UNAVAILABLE = "all_ekms_unavailable"
    THROTTLED = "throttled"
    DEPENDENCY_TIMEOUT = "dependency_timeout"
    VPC_SERVICE_NOT_FOUND = "vpc_service_not_found"
    VPC_SERVICE_INVALID = "vpc_service_invalid"


_UNREACHABLE = (
    "AWS KMS cannot communicate with the external key store proxy. This might be a transient"
    " network issue. If you see this error repeatedly, verify that your external key store"
    " proxy is active and is connected to the network, and that its endpoint URI is correct in"
    " your external key store."
)
_INVALID_RESPONSE = (
    "AWS KMS cannot interpret the response from the external key store proxy. If you see this"
    " error repeatedly, consult your external key store proxy administrator."
)
_INVALID_PATH = (
    "The external key store proxy rejected the request because of an invalid URI path. Verify"
    " the URI path for your external key store and update if necessary."
)

# outcome -> (exception answered by Create/Update, its message, ConnectionErrorCode of Connect)
OUTCOMES: dict[Outcome, tuple[str, str, str]] = {
    Outcome.NOT_REACHABLE: (
        "XksProxyUriUnreachableException",
        _UNREACHABLE,
        "XKS_PROXY_NOT_REACHABLE",
    ),
    Outcome.TIMED_OUT: (
        "XksProxyUriUnreachableException",
        "The external key store proxy did not respond to the request in the time allotted."
        " Verify that your external key store proxy is active and responsive.",
        "XKS_PROXY_TIMED_OUT",
    ),
    Outcome.INVALID_TLS: (
        "XksProxyUriUnreachableException",
        "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify that"
        " the proxy's TLS certificate is valid, is issued by a trusted certificate authority"
        " and names the host in the proxy URI endpoint.",
        "XKS_PROXY_INVALID_TLS_CONFIGURATION",
    ),
    Outcome.INVALID_CREDENTIALS: (
        "XksProxyIncorrectAuthenticationCredentialException",
        "The external key store proxy rejected the request because it could not authenticate"
        " AWS KMS. Verify the credentials for your external key store and update if necessary.",
        "INVALID_CREDENTIALS",
    ),
    # GetHealthStatus must be exempt from the proxy's authorization (spec), so a 403 there
    # is a proxy misconfiguration.
    Outcome.ACCESS_DENIED: (
        "XksProxyInvalidConfigurationException",
        "The external key store proxy denied access to AWS KMS. Health checks must be exempt"
        " from the proxy's authorization rules.",
        "XKS_PROXY_ACCESS_DENIED",
    ),
    Outcome.INVALID_CONFIGURATION: (
        "XksProxyInvalidConfigurationException",
        _INVALID_PATH,
        "XKS_PROXY_INVALID_CONFIGURATION",
    ),
    Outcome.INVALID_RESPONSE: (
        "XksProxyInvalidResponseException",
        _INVALID_RESPONSE,
        "XKS_PROXY_INVALID_RESPONSE",
    ),
    Outcome.ALL_EKMS_UNAVAILABLE: (
        "XksProxyUriUnreachableException",
        "The external key store proxy is in an unhealthy state. If you see this message"
        " repeatedly, notify your external key store proxy administrator.",
        "XKS_PROXY_NOT_REACHABLE",
    ),
    Outcome.THROTTLED: ("XksProxyUriUnreachableException", _UNREACHABLE, "XKS_PROXY_NOT_REACHABLE"),
    Outcome.DEPENDENCY_TIMEOUT: (
        "XksProxyUriUnreachableException",
        _UNREACHABLE,
        "XKS_PROXY_TIMED_OUT",
    ),
    Outcome.VPC_SERVICE_NOT_FOUND: (
        "XksProxyVpcEndpointServiceNotFoundException",
        "AWS KMS cannot find the VPC endpoint service, or the service does not allow the AWS KMS"
        " service principal.",
        "XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND",
    ),
    Outcome.VPC_SERVICE_INVALID: (
        "XksProxyVpcEndpointServiceInvalidConfigurationException",
        "The VPC endpoint service does not meet the requirements for an external key store.",
        "XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION",
    ),
}

_STATUS_OUTCOMES = {
    401: Outcome.INVALID_CREDENTIALS,
    403: Outcome.ACCESS_DENIED,
    404: Outcome.INVALID_CONFIGURATION,
    429: Outcome.THROTTLED,
    503: Outcome.DEPENDENCY_TIMEOUT,
}
_FAILURE_OUTCOMES = {
    Failure.UNRESOLVABLE: Outcome.NOT_REACHABLE,
    Failure.REFUSED: Outcome.NOT_REACHABLE,
    Failure.TLS: Outcome.INVALID_TLS,
    Failure.TIMED_OUT: Outcome.TIMED_OUT,
    Failure.MALFORMED: Outcome.INVALID_RESPONSE,
}
_HEALTH_STATES = {"ACTIVE", "DEGRADED", "UNAVAILABLE"}


@dataclass(frozen=True)
class CheckResult:
    """An outcome, and for people: what happened (`detail`), how long the proxy took and
    what its health answer said (a summary, when it gave one)."""

    outcome: Outcome
    detail: str = ""
    latency_ms: float | None = None
    health: str | None = None


def health_outcome(status: int, body: bytes) -> CheckResult:
    """Classify a GetHealthStatus answer."""
    if status != 200:
        outcome = _STATUS_OUTCOMES.get(status, Outcome.INVALID_RESPONSE)
        return CheckResult(outcome, f"the proxy answered HTTP {status}: {body[:200]!r}")
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return CheckResult(Outcome.INVALID_RESPONSE, "health response is not JSON")
    problem = _health_schema_problem(answer)
    if problem:
        return CheckResult(Outcome.INVALID_RESPONSE, problem)
    summary = health_summary(answer)
    if all(ekm["healthStatus"] == "UNAVAILABLE" for ekm in answer["ekmFleetDetails"]):
        return CheckResult(
            Outcome.ALL_EKMS_UNAVAILABLE, "every EKM reports UNAVAILABLE", health=summary
        )
    return CheckResult(Outcome.HEALTHY, "the proxy reports healthy", health=summary)


def health_summary(answer: dict[str, Any]) -> str:
    """A schema-checked GetHealthStatus answer in one line (no secrets: it has none)."""
    ekms = ", ".join(f"{ekm['id'][:64]} {ekm['healthStatus']}" for ekm in answer["ekmFleetDetails"])
    return (
        f"{answer['xksProxyVendor'][:64]} {answer['xksProxyModel'][:64]},"
        f" fleet of {answer['xksProxyFleetSize']}; EKMs: {ekms}"
    )


def _health_schema_problem(answer: Any) -> str | None:
    if not isinstance(answer, dict):
        return "health response is not an object"
    fleet_size = answer.get("xksProxyFleetSize")
    if isinstance(fleet_size, bool) or not isinstance(fleet_size, int) or fleet_size <= 0:
        return "xksProxyFleetSize must be a positive integer"
    for name in ("xksProxyVendor", "xksProxyModel", "ekmVendor"):
        if not isinstance(answer.get(name), str):
            return f"{name} must be a string"
    fleet = answer.get("ekmFleetDetails")
    if not isinstance(fleet, list) or not 1 <= len(fleet) <= 10:
        return "ekmFleetDetails must list 1 to 10 entries"
    for ekm in fleet:
        if not isinstance(ekm, dict) or ekm.get("healthStatus") not in _HEALTH_STATES:
            return "each ekmFleetDetails entry needs a known healthStatus"
        if not isinstance(ekm.get("id"), str) or not isinstance(ekm.get("model"), str):
            return "each ekmFleetDetails entry needs an id and a model"
    return None


class XksConnector:
    """Tests an external key store's configuration the way KMS does."""

    def __init__(self, settings: XksSettings, vpc_services: tuple[VpcEndpointService, ...]) -> None:
        self._settings = settings
        self._vpc_services = {service.name: service for service in vpc_services}
        self.transport = ProxyTransport(settings, vpc_services)
        self.keys = XksKeyClient(self.transport)

    def check_vpc_service(self, proxy: ProxySettings, region: str) -> CheckResult:
        """The endpoint service checks of Create, Update and Connect (VPC connectivity only)."""
        service = self._vpc_services.get(proxy.vpc_service_name or "")
        if service is None or service.owner != proxy.vpc_service_owner:
            return CheckResult(Outcome.VPC_SERVICE_NOT_FOUND, "no such endpoint service")
        if f".vpce.{region}.vpce-svc-" not in service.name or not service.allows_kms:
            return CheckResult(Outcome.VPC_SERVICE_NOT_FOUND, "service not usable from here")
        if (
            service.acceptance_required
            or service.availability_zones < 2
            or not service.private_dns_verified
            or service.private_dns_name.lower() != proxy.host
        ):
            return CheckResult(Outcome.VPC_SERVICE_INVALID, "endpoint service requirements")
        return CheckResult(Outcome.HEALTHY)

    async def check_health(
        self, proxy: ProxySettings, region: str, kms_operation: str
    ) -> CheckResult:
        """Call the proxy's GetHealthStatus as KMS does: signed, 250 ms, one retry on timeout."""
        if proxy.connectivity == "VPC_ENDPOINT_SERVICE":
            vpc = self.check_vpc_service(proxy, region)
            if vpc.outcome is not Outcome.HEALTHY:
                return vpc
        target = self.transport.target(proxy)
        if target is None:
            unmapped = f"{proxy.host} is not mapped in [xks] resolve"
            return CheckResult(Outcome.NOT_REACHABLE, unmapped)
        path = proxy.uri_path + "/health"
        attempts = 1 + max(0, self._settings.retries)
        result = CheckResult(Outcome.NOT_REACHABLE)
        for _ in range(attempts):
            result = await self._call_health(proxy, region, kms_operation, target, path)
            # KMS retries once on a network timeout, and only then (xks-proxy.md §1.8).
            if result.outcome is not Outcome.TIMED_OUT:
                break
        return result

    async def _call_health(
        self, proxy: ProxySettings, region: str, kms_operation: str, target: Target, path: str
    ) -> CheckResult:
        body = orjson.dumps(
            {"requestMetadata": {"kmsRequestId": str(uuid.uuid4()), "kmsOperation": kms_operation}}
        )
        started = time.perf_counter()
        try:
            response = await self.transport.post(proxy, region, target, path, body, pooled=False)
        except HttpFailure as failure:
            log.info("XKS health call to %s failed: %s", proxy.uri_endpoint, failure)
            return CheckResult(_FAILURE_OUTCOMES[failure.failure], failure.detail)
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return replace(health_outcome(response.status, response.body), latency_ms=latency_ms)
