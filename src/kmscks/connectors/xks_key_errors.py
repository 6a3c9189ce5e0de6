"""What a proxy's answer to a key operation means for KMS: one outcome, one table, one error.

connectors layer; imports only kmscks.errors. Every way a GetKeyMetadata, Encrypt or Decrypt
call to an XKS proxy can fail is a KeyOutcome. KEY_OUTCOMES is the one table that maps it to
the exception CreateKey raises, the exception the cryptographic operations raise (always
KMSInvalidStateException) and the message that goes with both (contract
kms-keys-in-custom-key-stores.md §8.4). KMS never passes on the proxy's own errorMessage.
"""

from __future__ import annotations

from enum import Enum

from kmscks.errors import ServiceError


class KeyOutcome(Enum):
    VALIDATION = "validation"  # 400 ValidationException
    KEY_DISABLED = "key_disabled"  # 400 InvalidStateException
    INVALID_CIPHERTEXT = "invalid_ciphertext"  # 400 InvalidCiphertextException (decrypt)
    INNER_LAYER_INVALID = "inner_layer_invalid"  # the service's own layer failed after decrypt
    KEY_USAGE = "key_usage"  # 400 InvalidKeyUsageException
    AUTHENTICATION_FAILED = "authentication_failed"  # 401 AuthenticationFailedException
    ACCESS_DENIED = "access_denied"  # 403 AccessDeniedException
    KEY_NOT_FOUND = "key_not_found"  # 404 KeyNotFoundException
    INVALID_URI_PATH = "invalid_uri_path"  # 404 InvalidUriPathException
    THROTTLED = "throttled"  # 429 ThrottlingException
    UNSUPPORTED_OPERATION = "unsupported_operation"  # 501 UnsupportedOperationException
    DEPENDENCY_TIMEOUT = "dependency_timeout"  # 503 DependencyTimeoutException
    PROXY_INTERNAL = "proxy_internal"  # 500 InternalException
    NOT_REACHABLE = "not_reachable"  # refused, reset, DNS, unmapped host
    INVALID_TLS = "invalid_tls"  # handshake or certificate failure
    TIMED_OUT = "timed_out"  # no response within the deadline, twice
    MALFORMED = "malformed"  # not JSON, unknown errorName, failed checks, CDIV mismatch
    KEY_MISCONFIGURED = "key_misconfigured"  # GetKeyMetadata: not AES_256/ENCRYPT+DECRYPT/ENABLED


# The proxy's errorName -> outcome; matched exactly, anything else is MALFORMED.
ERROR_NAMES: dict[str, KeyOutcome] = {
    "ValidationException": KeyOutcome.VALIDATION,
    "InvalidStateException": KeyOutcome.KEY_DISABLED,
    "InvalidCiphertextException": KeyOutcome.INVALID_CIPHERTEXT,
    "InvalidKeyUsageException": KeyOutcome.KEY_USAGE,
    "AuthenticationFailedException": KeyOutcome.AUTHENTICATION_FAILED,
    "AccessDeniedException": KeyOutcome.ACCESS_DENIED,
    "KeyNotFoundException": KeyOutcome.KEY_NOT_FOUND,
    "InvalidUriPathException": KeyOutcome.INVALID_URI_PATH,
    "ThrottlingException": KeyOutcome.THROTTLED,
    "UnsupportedOperationException": KeyOutcome.UNSUPPORTED_OPERATION,
    "DependencyTimeoutException": KeyOutcome.DEPENDENCY_TIMEOUT,
    "InternalException": KeyOutcome.PROXY_INTERNAL,
}

_STORE_STATE = "CustomKeyStoreInvalidStateException"
_KEY_CONFIG = "XksKeyInvalidConfigurationException"
_CRYPTO = "KMSInvalidStateException"
_CANNOT_INTERPRET = (
    "AWS KMS cannot interpret the response from the external key store proxy. If you see this"
    " error repeatedly, report it to your external key store proxy administrator."
)

# outcome -> (CreateKey's exception, the crypto operations' exception, message).
# None: that column cannot meet the outcome (contract §8.4 "–"): Decrypt-only outcomes never
# come from GetKeyMetadata, and only GetKeyMetadata checks the key's configuration. The
# KEY_MISCONFIGURED message names the key's values; KeyMisconfigured builds it (§3.4).
KEY_OUTCOMES: dict[KeyOutcome, tuple[str | None, str | None, str]] = {
    KeyOutcome.VALIDATION: (_STORE_STATE, _CRYPTO, _CANNOT_INTERPRET),
    KeyOutcome.KEY_DISABLED: (
        _KEY_CONFIG,
        _CRYPTO,
        "The external key store proxy rejected the request because the external key is not"
        " enabled in the external key manager.",
    ),
    KeyOutcome.INVALID_CIPHERTEXT: (
        None,
        _CRYPTO,
        "The external key store proxy rejected the request because the specified ciphertext or"
        " additional authenticated data is corrupted, missing, or otherwise invalid.",
    ),
    KeyOutcome.INNER_LAYER_INVALID: (
        None,
        _CRYPTO,
        "The ciphertext that the external key store proxy submitted for decryption, or the"
        " encryption context, is corrupted, missing, or otherwise invalid.",
    ),
    KeyOutcome.KEY_USAGE: (
        _KEY_CONFIG,
        _CRYPTO,
        "The external key store proxy rejected the request because the external key does not"
        " support the requested operation.",
    ),
    KeyOutcome.AUTHENTICATION_FAILED: (
        _STORE_STATE,
        _CRYPTO,
        "The external key store proxy rejected the request because it could not authenticate"
        " AWS KMS. Verify the credentials for your external key store and update if necessary.",
    ),
    KeyOutcome.ACCESS_DENIED: (
        _STORE_STATE,
        _CRYPTO,
        "The external key store proxy denied access to the operation. Verify that the user and"
        " the external key are both authorized for this operation, and try the request again.",
    ),
    KeyOutcome.KEY_NOT_FOUND: (
        "XksKeyNotFoundException",
        _CRYPTO,
        "The external key store proxy rejected the request because it could not find the"
        " external key.",
    ),
    KeyOutcome.INVALID_URI_PATH: (
        _STORE_STATE,
        _CRYPTO,
        "The external key store proxy rejected the request because of an invalid URI path."
        " Verify the URI path for your external key store and update if necessary.",
    ),
    KeyOutcome.THROTTLED: (
        _STORE_STATE,
        _CRYPTO,
        "The external key store proxy rejected the request due to a very high request rate."
        " Reduce the frequency of your calls using KMS keys in this external key store.",
    ),
    # The published mapping names XksKeyInvalidResponseException, which the model lacks.
    KeyOutcome.UNSUPPORTED_OPERATION: (
        _STORE_STATE,
        _CRYPTO,
        "The external key store proxy rejected the request because it does not support the"
        " requested operation. If you see this error repeatedly, report it to your external"
        " key store proxy administrator.",
    ),
    KeyOutcome.DEPENDENCY_TIMEOUT: (
        _STORE_STATE,
        _CRYPTO,
        "The external key store proxy did not respond to the request in the time allotted."
        " Retry the request. If you see this error repeatedly, report it to your external key"
        " store proxy administrator.",
    ),
    KeyOutcome.PROXY_INTERNAL: (
        _STORE_STATE,
        _CRYPTO,
        "The external key store proxy rejected the request because it cannot communicate with"
        " the external key manager. Verify that the external key store proxy configuration is"
        " correct and that the external key manager is available.",
    ),
    KeyOutcome.NOT_REACHABLE: (
        _STORE_STATE,
        _CRYPTO,
        "AWS KMS cannot communicate with the external key store proxy. This might be a"
        " transient network issue. If you see this error repeatedly, verify that your external"
        " key store proxy is active and is connected to the network, and that its endpoint URI"
        " is correct in your external key store.",
    ),
    KeyOutcome.INVALID_TLS: (
        _STORE_STATE,
        _CRYPTO,
        "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the"
        " TLS configuration, including its certificate.",
    ),
    KeyOutcome.TIMED_OUT: (
        _STORE_STATE,
        _CRYPTO,
        "AWS KMS rejected the request because the external key store proxy did not respond in"
        " time. Retry the request. If you see this error repeatedly, report it to your external"
        " key store proxy administrator.",
    ),
    KeyOutcome.MALFORMED: (_STORE_STATE, _CRYPTO, _CANNOT_INTERPRET),
    KeyOutcome.KEY_MISCONFIGURED: (_KEY_CONFIG, None, ""),
}


def to_service_error(
    outcome: KeyOutcome, for_create: bool, message: str | None = None
) -> ServiceError:
    """The KMS error for `outcome`: CreateKey's column if `for_create`, else the crypto column.

    `message` replaces the table's message; only KEY_MISCONFIGURED needs one (XksKeyError
    carries it). Asking for a column the outcome cannot reach is a bug (ValueError).
    """
    create, crypto, fixed = KEY_OUTCOMES[outcome]
    code = create if for_create else crypto
    if code is None:
        column = "CreateKey" if for_create else "cryptographic operations"
        raise ValueError(f"{outcome.name} is not an outcome of {column}")
    text = message if message is not None else fixed
    if not text:
        raise ValueError(f"{outcome.name} needs a message")
    return ServiceError(code, text)


class XksKeyError(Exception):
    """A proxy key call that failed. `cause` is for logs (never secrets or plaintext)."""

    def __init__(self, outcome: KeyOutcome, cause: str, message: str | None = None) -> None:
        super().__init__(f"{outcome.value}: {cause}")
        self.outcome = outcome
        self.cause = cause
        self.message = message  # set only where the table's message is not the answer

    def to_service_error(self, for_create: bool) -> ServiceError:
        return to_service_error(self.outcome, for_create, self.message)


def key_misconfigured(key_spec: str, key_usage: tuple[str, ...], key_status: str) -> str | None:
    """The §3.4 message if the external key cannot back a KMS key, else None.

    Checked in the contract's order: spec, usage, status. The usage list is shown as
    `[A, B]` (no source gives the real formatting).
    """
    if key_spec != "AES_256":
        return (
            "The key spec of the external key must be AES_256. The key spec of specified"
            f" external key is {key_spec}."
        )
    if not {"ENCRYPT", "DECRYPT"} <= set(key_usage):
        return (
            "The key usage of the external key must include ENCRYPT and DECRYPT. The key use of"
            f" specified external key is [{', '.join(key_usage)}]."
        )
    if key_status != "ENABLED":
        return (
            "The status of the external key must be ENABLED. The status of specified external"
            f" key is {key_status}."
        )
    return None
