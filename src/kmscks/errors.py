"""The one exception tree of cks's servers.

    ServiceError(code, message)      an error answered to the client; `code` is the wire name
    |                                (`__type`): a model error shape such as
    |                                CustomKeyStoreNotFoundException, or one of AWS's common
    |                                errors (ValidationException, SerializationException,
    |                                UnknownOperationException, the authentication errors).
    |                                The api layer derives the HTTP status from the model.
    +-- internal(message)            KMSInternalException, the only 500: a bug or a lost store.

Anything else raised while serving a request is a bug: the api layer logs it and answers
KMSInternalException without details.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error answered to the client as `{"__type": code, "message": message}`."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


INTERNAL_ERROR_CODE = "KMSInternalException"


def internal(
    message: str = "The request was rejected because of an internal exception.",
) -> ServiceError:
    return ServiceError(INTERNAL_ERROR_CODE, message)
