"""Caller: who sends a request, as every operation of every served API receives it.

bottom layer (beside errors.py): imports nothing of kmscks, so the api layer can build one
without loading the service, the store, the connectors or the CloudHSM control plane.
"""

from __future__ import annotations

from typing import NamedTuple


class Caller(NamedTuple):
    """Who calls: a NamedTuple, built once per request (a third of a frozen dataclass's cost).

    `principal_arn` is the IAM ARN of the caller's credential (the XKS proxy API's
    `awsPrincipalArn`); `request_id` is the `x-amzn-RequestId` the client gets back (the proxy
    API's `kmsRequestId`), so a proxy's log lines can be matched to the client's request.
    """

    account_id: str
    region: str
    principal_arn: str
    request_id: str
