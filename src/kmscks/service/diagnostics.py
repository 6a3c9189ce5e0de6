"""The diagnostics API: why a custom key store's connection failed, where the user looks.

service layer. A cks addition, served like the CloudHSM admin API (cloudhsm/admin.py): an
authenticated AWS JSON 1.1 endpoint described by a model in botocore's format
(DIAGNOSTICS_MODEL, X-Amz-Target `CksDiagnostics.<Op>`, SigV4 signing name `kms`, so any KMS
client's credentials sign it). `cks kms explain-connection-error --custom-key-store-id ID`
calls it; a console page can too. It answers only for the caller's own stores (account and
Region), and returns no secret: the attempts' causes are the connectors' descriptions.
"""

from __future__ import annotations

from typing import Any

from kmscks.caller import Caller
from kmscks.registry import serves
from kmscks.service.base import not_found
from kmscks.store.attempts import KEEP, ConnectionAttempts
from kmscks.store.sql import SqlStore

TARGET_PREFIX = "CksDiagnostics"
DIAGNOSTICS_OPERATIONS = ("GetConnectionAttempts",)

_STRING = {"shape": "String"}


def _diagnostics_model() -> dict[str, Any]:
    error = {"type": "structure", "members": {"message": _STRING}, "exception": True}
    return {
        "metadata": {
            "apiVersion": "2026-11-30",
            "endpointPrefix": "kms",
            "signingName": "kms",
            "jsonVersion": "1.1",
            "protocol": "json",
            "serviceId": "CKS Diagnostics",
            "targetPrefix": TARGET_PREFIX,
        },
        "operations": {
            "GetConnectionAttempts": {
                "name": "GetConnectionAttempts",
                "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": "GetConnectionAttemptsRequest"},
                "output": {"shape": "GetConnectionAttemptsResponse"},
                "errors": [{"shape": "CustomKeyStoreNotFoundException"}],
                "documentation": (
                    f"The last {KEEP} connection attempts of a custom key store, newest first:"
                    " when, how each ended, and the concrete cause."
                ),
            }
        },
        "shapes": {
            "String": {"type": "string"},
            "Double": {"type": "double"},
            "Timestamp": {"type": "timestamp"},
            "CustomKeyStoreIdType": {"type": "string", "min": 1, "max": 64},
            "GetConnectionAttemptsRequest": {
                "type": "structure",
                "required": ["CustomKeyStoreId"],
                "members": {"CustomKeyStoreId": {"shape": "CustomKeyStoreIdType"}},
            },
            "GetConnectionAttemptsResponse": {
                "type": "structure",
                "members": {
                    "CustomKeyStoreId": _STRING,
                    "CustomKeyStoreName": _STRING,
                    "CustomKeyStoreType": _STRING,
                    "ConnectionState": _STRING,
                    "ConnectionErrorCode": _STRING,
                    "Attempts": {"shape": "ConnectionAttemptList"},
                },
            },
            "ConnectionAttemptList": {"type": "list", "member": {"shape": "ConnectionAttempt"}},
            "ConnectionAttempt": {
                "type": "structure",
                "members": {
                    "AttemptedAt": {"shape": "Timestamp"},
                    "ConnectionState": _STRING,
                    "ConnectionErrorCode": _STRING,
                    "Cause": _STRING,
                    "ProxyLatencyMs": {"shape": "Double"},
                    "ProxyHealth": _STRING,
                },
            },
            "CustomKeyStoreNotFoundException": error,
            "KMSInternalException": {**error, "fault": True, "error": {"httpStatusCode": 500}},
        },
    }


DIAGNOSTICS_MODEL = _diagnostics_model()


class Diagnostics:
    """One coroutine per diagnostics operation (@serves, one for each of DIAGNOSTICS_OPERATIONS)."""

    def __init__(self, store: SqlStore, attempts: ConnectionAttempts) -> None:
        self._store = store
        self._attempts = attempts

    @serves("GetConnectionAttempts")
    async def get_connection_attempts(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        store_id = params["CustomKeyStoreId"]
        record = self._store.get(caller.account_id, caller.region, store_id)
        if record is None:
            raise not_found(store_id)
        attempts = []
        for row in self._attempts.recent(record.id):
            attempt: dict[str, Any] = {
                "AttemptedAt": row.attempted_at,
                "ConnectionState": row.connection_state,
                "Cause": row.cause,
            }
            if row.error_code:
                attempt["ConnectionErrorCode"] = row.error_code
            if row.proxy_latency_ms is not None:
                attempt["ProxyLatencyMs"] = row.proxy_latency_ms
            if row.proxy_health:
                attempt["ProxyHealth"] = row.proxy_health
            attempts.append(attempt)
        answer: dict[str, Any] = {
            "CustomKeyStoreId": record.id,
            "CustomKeyStoreName": record.name,
            "CustomKeyStoreType": record.store_type,
            "ConnectionState": record.connection_state,
            "Attempts": attempts,
        }
        if record.connection_error_code:
            answer["ConnectionErrorCode"] = record.connection_error_code
        return answer
