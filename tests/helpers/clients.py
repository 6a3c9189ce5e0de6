"""Clients for tests: boto3 KMS clients bound to a server, an account and a region."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.helpers.proxies import wait_for

_regions = itertools.count()


def unique_region() -> str:
    """A region no other test uses: stores are isolated per (account, region)."""
    return f"test-{os.getpid()}-{next(_regions)}"


def kms_client(
    url: str,
    region: str = "us-east-1",
    access_key: str = "test",
    secret_key: str = "test",
    retries: int = 0,
    validate: bool = True,
) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            retries={"total_max_attempts": retries + 1},
            max_pool_connections=100,
            parameter_validation=validate,
        ),
    )


VALID_ACCESS_KEY_ID = "ABCDEFGHIJKLMNOPQRSTUVWX"  # 24 characters of [A-Z2-7]
VALID_SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="  # 48 characters


def xks_params(
    name: str, host: str = "xks.example.test", path: str | None = None
) -> dict[str, Any]:
    """CreateCustomKeyStore members of a public external key store on the shared test proxy."""
    return {
        "CustomKeyStoreName": name,
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyConnectivity": "PUBLIC_ENDPOINT",
        "XksProxyUriEndpoint": f"https://{host}",
        "XksProxyUriPath": path or f"/{name.replace(' ', '-')}/kms/xks/v1",
        "XksProxyAuthenticationCredential": {
            "AccessKeyId": VALID_ACCESS_KEY_ID,
            "RawSecretAccessKey": VALID_SECRET,
        },
    }


def aws_cli_env(region: str, home: Path) -> dict[str, str]:
    """A clean environment for the AWS CLI: test credentials, a region, no pager, UTC."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": region,
        "AWS_PAGER": "",
        "TZ": "UTC",
    }


def connection_state(client: Any, store_id: str) -> str:
    """The store's ConnectionState, as `client` describes it."""
    answer = client.describe_custom_key_stores(CustomKeyStoreId=store_id)
    return str(answer["CustomKeyStores"][0]["ConnectionState"])


def wait_for_state(client: Any, store_id: str, *states: str, timeout: float = 10.0) -> None:
    """Wait until `client` describes the store in one of `states`."""
    try:
        wait_for(lambda: connection_state(client, store_id) in states, timeout)
    except AssertionError:
        raise AssertionError(f"{store_id} never reached {' or '.join(states)}") from None
