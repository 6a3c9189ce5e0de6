"""The one exception tree of cks's servers.

    ServiceError(code, message)      an error answered to the client; `code` is the wire name
                                     (`__type`): a model error shape such as
                                     CustomKeyStoreNotFoundException, or one of AWS's common
                                     errors (ValidationException, SerializationException,
                                     UnknownOperationException, the authentication errors).
                                     The api layer derives the HTTP status from the model; a
                                     model's internal error (KMSInternalException) is the only 500.

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
