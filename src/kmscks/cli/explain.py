"""`cks kms explain-connection-error CODE`: what a ConnectionErrorCode means and how to fix it.

Layer: cli. A cks addition. The text is the KMS API Reference's, taken from the model's
documentation of CustomKeyStoresListEntry.ConnectionErrorCode by modelgen.py (the contract's
[D] source), per store type, followed by the general remediation. `--all` lists every code.

`--custom-key-store-id ID` asks the server instead (its diagnostics API, `CksDiagnostics`,
signed like any `cks kms` call): the store's last connection attempts with their concrete
causes, the fix to try for the newest failure, then the code's explanation. Must not import
server code.
"""

from __future__ import annotations

import datetime
import textwrap
from typing import Any, Protocol, TextIO

from kmscks.cli import spec
from kmscks.cli.errors import ParamValidationError

FIX_STEPS = (
    "To fix: disconnect the store (cks kms disconnect-custom-key-store --custom-key-store-id ID), "
    "correct the cause (cks kms update-custom-key-store ...), and connect again "
    "(cks kms connect-custom-key-store --custom-key-store-id ID)."
)


def _wrap(text: str, indent: str) -> str:
    lines = []
    for paragraph in text.split("\n"):
        bullet = paragraph.startswith("- ")
        lines.append(
            textwrap.fill(
                paragraph,
                width=88,
                initial_indent=indent,
                subsequent_indent=indent + ("  " if bullet else ""),
            )
        )
    return "\n".join(lines)


def explanation(code: str) -> str:
    help_data = spec.description()["connection_error_help"]
    parts = [code]
    for store_type, text in help_data["codes"].get(code, []):
        parts.append(f"  {store_type}:")
        parts.append(_wrap(text, "    "))
    parts.append(_wrap(FIX_STEPS, "  "))
    return "\n".join(parts) + "\n"


USAGE = "usage: cks kms explain-connection-error CODE | --all | --custom-key-store-id ID"

# The fix to try, by what the newest failed attempt found: (words in its cause, advice). The
# causes are the server's connectors' wording (connectors/http_connection.py, http_client.py,
# cloudhsm.py).
_CAUSE_FIXES = (
    (
        "TCP connection refused",
        "Nothing listens there. Start the XKS proxy (cks xks-proxy --config FILE), or correct"
        " where the server sends this endpoint ([xks] resolve in the server's config file).",
    ),
    (
        "is not mapped in [xks] resolve",
        "Map the endpoint's host to the proxy's address in the server's config file:"
        ' [xks] resolve = { "HOST" = "127.0.0.1:PORT" }, then restart cks serve.',
    ),
    (
        "cannot resolve",
        "The endpoint's host name does not resolve: map it in [xks] resolve instead.",
    ),
    (
        "certificate verify failed",
        "The server does not trust the proxy's certificate. Add the CA that issued it to"
        " [xks] ca_bundle in the server's config file (cks xks-proxy init writes one), or give"
        " the proxy a certificate for the endpoint's host name.",
    ),
    (
        "TLS handshake",
        "Check that the proxy serves TLS (or list the host in [xks] allow_http for plain http).",
    ),
    (
        "gave no complete response",
        "The proxy accepted the connection but answered too late: check that it is not stuck,"
        " or raise [xks] timeout_ms in the server's config file.",
    ),
    (
        "no answer to the TCP connection",
        "Nothing answered the connection in time: check the address in [xks] resolve.",
    ),
)
_CODE_FIXES = {
    "INVALID_CREDENTIALS": "Set the credential the proxy (or the kmsuser) expects:"
    " cks kms update-custom-key-store --custom-key-store-id ID"
    " --xks-proxy-authentication-credential ... (or --key-store-password ...).",
    "XKS_PROXY_INVALID_CONFIGURATION": "Check the URI path: cks kms update-custom-key-store"
    " --custom-key-store-id ID --xks-proxy-uri-path /PATH/kms/xks/v1.",
    "USER_LOCKED_OUT": "Unlock the kmsuser: cks cloudhsm change-kms-user-password"
    " --cluster-id CLUSTER --password PASSWORD, then set that password on the key store.",
    "USER_LOGGED_IN": "Log the kmsuser out: cks cloudhsm log-out-kms-user --cluster-id CLUSTER.",
    "USER_NOT_FOUND": "Create the kmsuser: cks cloudhsm create-kms-user --cluster-id CLUSTER"
    " --password PASSWORD.",
    "NETWORK_ERRORS": "Repair the network: cks cloudhsm unblock-network / repair-security-group"
    " --cluster-id CLUSTER.",
    "SUBNET_NOT_FOUND": "Restore the subnet: cks cloudhsm restore-subnet --subnet-id SUBNET.",
    "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET": "Free addresses: cks cloudhsm restore-subnet"
    " --subnet-id SUBNET.",
}


class StoreDiagnostics(Protocol):
    """What explain needs of a `cks kms` invocation: one signed diagnostics call."""

    def connection_attempts(self, store_id: str) -> dict[str, Any]: ...


class ServerDiagnostics:
    """The diagnostics API of the server a `cks kms` invocation talks to (its endpoint,
    region and credentials, as for any other command)."""

    def __init__(self, invocation: Any) -> None:
        self._invocation = invocation

    def connection_attempts(self, store_id: str) -> dict[str, Any]:
        from kmscks.cli.errors import NoCredentialsError

        endpoint = self._invocation._endpoint()
        try:
            if self._invocation.options.sign_request and endpoint.credentials is None:
                raise NoCredentialsError()
            answer: dict[str, Any] = endpoint.call(
                "GetConnectionAttempts", "CksDiagnostics", {"CustomKeyStoreId": store_id}
            )
            return answer
        finally:
            endpoint.close()


def _when(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def fix_to_try(attempt: dict[str, Any]) -> str | None:
    cause = str(attempt.get("Cause", ""))
    for words, advice in _CAUSE_FIXES:
        if words in cause:
            return advice
    return _CODE_FIXES.get(str(attempt.get("ConnectionErrorCode", "")))


def store_report(answer: dict[str, Any]) -> str:
    """The diagnostics answer for a person (no secret is in it to show)."""
    state = answer.get("ConnectionState", "?")
    code = answer.get("ConnectionErrorCode")
    lines = [
        f"{answer.get('CustomKeyStoreId')} ({answer.get('CustomKeyStoreName')},"
        f" {answer.get('CustomKeyStoreType')}) is {state}" + (f": {code}" if code else "")
    ]
    attempts = answer.get("Attempts") or []
    if not attempts:
        lines.append("  No connection attempt recorded yet (connect-custom-key-store makes one).")
    else:
        lines.append("")
        lines.append("Last connection attempts, newest first:")
    for attempt in attempts:
        ended = attempt.get("ConnectionState", "?")
        error = attempt.get("ConnectionErrorCode")
        lines.append(
            f"  {_when(float(attempt.get('AttemptedAt', 0)))}  {ended}"
            + (f"  {error}" if error else "")
        )
        lines.append(_wrap(f"cause: {attempt.get('Cause', '')}", "      "))
        if "ProxyLatencyMs" in attempt:
            lines.append(f"      proxy answered in {attempt['ProxyLatencyMs']} ms")
        if attempt.get("ProxyHealth"):
            lines.append(_wrap(f"proxy health: {attempt['ProxyHealth']}", "      "))
    newest = attempts[0] if attempts else None
    if newest is not None and newest.get("ConnectionState") == "FAILED":
        advice = fix_to_try(newest)
        if advice:
            lines += ["", "To try:", _wrap(advice, "  ")]
    out = "\n".join(lines) + "\n"
    if code:
        out += "\n" + explanation(str(code))
    return out


def explain(argv: list[str], out: TextIO, diagnostics: StoreDiagnostics | None = None) -> int:
    codes = spec.connection_error_codes()
    if argv == ["--all"]:
        out.write("\n".join(explanation(code) for code in codes))
        return 0
    store_id = _store_id(argv)
    if store_id is not None and diagnostics is not None:
        out.write(store_report(diagnostics.connection_attempts(store_id)))
        return 0
    if len(argv) != 1 or argv[0].upper() not in codes:
        raise ParamValidationError(f"{USAGE}\nCODE is one of: " + ", ".join(codes))
    out.write(explanation(argv[0].upper()))
    return 0


def _store_id(argv: list[str]) -> str | None:
    if len(argv) == 2 and argv[0] == "--custom-key-store-id" and argv[1]:
        return argv[1]
    if len(argv) == 1 and argv[0].startswith("--custom-key-store-id=") and len(argv[0]) > 22:
        return argv[0].split("=", 1)[1]
    return None
