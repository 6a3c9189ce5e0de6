"""The Caller every operation receives: account, region, the credential's principal ARN and the
request id the client gets back (what an XKS proxy sees as awsPrincipalArn and kmsRequestId)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmscks.api.auth import Authenticator
from kmscks.api.handler import Api, RequestHandler
from kmscks.api.model import load_service_model
from kmscks.caller import Caller
from kmscks.config import ConfigError, load_config


def test_a_credential_names_its_principal_or_stands_for_the_account_root(
    tmp_path: Path,
) -> None:
    config = tmp_path / "cks.toml"
    config.write_text(
        '[[credentials]]\naccess_key_id = "A1"\nsecret_access_key = "s"\n'
        'account_id = "111122223333"\n'
        '[[credentials]]\naccess_key_id = "A2"\nsecret_access_key = "s"\n'
        'account_id = "111122223333"\nprincipal_arn = "arn:aws:iam::111122223333:role/Admin"\n'
    )
    builtin, first, second = load_config(config).credentials
    assert builtin.principal_arn == "arn:aws:iam::000000000000:root"
    assert first.principal_arn == "arn:aws:iam::111122223333:root"
    assert second.principal_arn == "arn:aws:iam::111122223333:role/Admin"


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:iam::444455556666:user/Other", "user/Alice", "", "7"],
)
def test_a_principal_arn_must_be_an_iam_arn_of_its_account(tmp_path: Path, arn: str) -> None:
    config = tmp_path / "cks.toml"
    config.write_text(
        '[[credentials]]\naccess_key_id = "A1"\nsecret_access_key = "s"\n'
        f'account_id = "111122223333"\nprincipal_arn = "{arn}"\n'
    )
    with pytest.raises(ConfigError, match=r"credentials\[0\]\.principal_arn"):
        load_config(config)


def signed(
    target: str, access_key: str, region: str, body: bytes = b"{}"
) -> tuple[dict[str, str], bytes]:
    """A botocore-signed KMS request's headers (lower-case names) and body."""
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1/",
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials(access_key, "s"), "kms", region).add_auth(request)
    headers = {name.lower(): str(value) for name, value in request.headers.items()}
    return {**headers, "host": "127.0.0.1"}, body


def test_the_operation_gets_the_principal_and_the_request_id_the_client_gets(
    tmp_path: Path,
) -> None:
    config = tmp_path / "cks.toml"
    config.write_text(
        '[[credentials]]\naccess_key_id = "A2"\nsecret_access_key = "s"\n'
        'account_id = "111122223333"\nprincipal_arn = "arn:aws:iam::111122223333:user/Alice"\n'
    )
    seen: list[Caller] = []

    async def get_key_rotation_status(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        seen.append(caller)
        return {"KeyRotationEnabled": False}

    api = Api(
        load_service_model("kms"),
        {"GetKeyRotationStatus": get_key_rotation_status},
        internal_error="KMSInternalException",
    )
    handler = RequestHandler([api], Authenticator(load_config(config).credentials, 300))
    headers, body = signed(
        "TrentService.GetKeyRotationStatus", "A2", "eu-west-3", b'{"KeyId": "alias/any"}'
    )
    status, response_headers, _ = asyncio.run(handler.handle("POST", "/", "", headers, body))
    assert status == 200
    request_id = dict(response_headers)["x-amzn-requestid"]
    assert seen == [
        Caller("111122223333", "eu-west-3", "arn:aws:iam::111122223333:user/Alice", request_id)
    ]
