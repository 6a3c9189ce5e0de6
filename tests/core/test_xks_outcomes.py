"""Every XKS proxy outcome, reached over real sockets: Create/Update exceptions and Connect codes.

A module-scoped `cks serve` maps one host per behaviour (`[xks] resolve`) to a real server on
127.0.0.1 that refuses, stalls, presents a bad certificate, answers 401/403/404/500, garbage,
a schema-breaking or an all-UNAVAILABLE health response, or is healthy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.clients import VALID_ACCESS_KEY_ID, VALID_SECRET, kms_client
from tests.helpers.proxies import (
    ALL_UNAVAILABLE,
    DEGRADED,
    Behaviour,
    FakeProxy,
    StallingServer,
    Tls,
    closed_port_address,
    error_body,
    json_body,
    untrusted_context,
    wait_for,
)
from tests.helpers.server import ServerProcess, start_cks_server

REGION = "us-east-1"

# case -> (create exception, connect ConnectionErrorCode or None for CONNECTED)
CASES: dict[str, tuple[str | None, str | None]] = {
    "healthy": (None, None),
    "degraded": (None, None),
    "plain": (None, None),
    "refused": ("XksProxyUriUnreachableException", "XKS_PROXY_NOT_REACHABLE"),
    "unmapped": ("XksProxyUriUnreachableException", "XKS_PROXY_NOT_REACHABLE"),
    "stall": ("XksProxyUriUnreachableException", "XKS_PROXY_TIMED_OUT"),
    "slow": ("XksProxyUriUnreachableException", "XKS_PROXY_TIMED_OUT"),
    "untrusted": ("XksProxyUriUnreachableException", "XKS_PROXY_INVALID_TLS_CONFIGURATION"),
    "wrongname": ("XksProxyUriUnreachableException", "XKS_PROXY_INVALID_TLS_CONFIGURATION"),
    "s401": ("XksProxyIncorrectAuthenticationCredentialException", "INVALID_CREDENTIALS"),
    "s403": ("XksProxyInvalidConfigurationException", "XKS_PROXY_ACCESS_DENIED"),
    "s404": ("XksProxyInvalidConfigurationException", "XKS_PROXY_INVALID_CONFIGURATION"),
    "s500": ("XksProxyInvalidResponseException", "XKS_PROXY_INVALID_RESPONSE"),
    "s429": ("XksProxyUriUnreachableException", "XKS_PROXY_NOT_REACHABLE"),
    "s503": ("XksProxyUriUnreachableException", "XKS_PROXY_TIMED_OUT"),
    "garbage": ("XksProxyInvalidResponseException", "XKS_PROXY_INVALID_RESPONSE"),
    "badschema": ("XksProxyInvalidResponseException", "XKS_PROXY_INVALID_RESPONSE"),
    "unavailable": ("XksProxyUriUnreachableException", "XKS_PROXY_NOT_REACHABLE"),
}


@dataclass
class Lab:
    server: ServerProcess
    proxies: dict[str, Any]
    tls: Tls
    folder: Path


def _vpc_service(case: str) -> str:
    return f"com.amazonaws.vpce.us-east-1.vpce-svc-{case}0000"


def _config(addresses: dict[str, str], tls: Tls, vpc_overrides: str = "") -> str:
    resolve = ", ".join(f'"{case}.test" = "{address}"' for case, address in addresses.items())
    services = "".join(
        f"""
[[vpc_endpoint_services]]
name = "{_vpc_service(case)}"
owner = "000000000000"
private_dns_name = "{case}.vpce.test"
address = "{address}"
"""
        for case, address in addresses.items()
    )
    return f"""
[server]
transition_delay_ms = 50

[limits]
custom_key_stores = 1000

[xks]
resolve = {{ {resolve} }}
ca_bundle = "{tls.ca_path}"
allow_http = ["plain.test", "plain.vpce.test"]
timeout_ms = 250
{services}
{vpc_overrides}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("xks-lab")
    tls = Tls.create(folder)

    def trusted(case: str) -> Any:
        return tls.server_context(f"{case}.test", f"{case}.vpce.test")

    proxies: dict[str, Any] = {
        "healthy": FakeProxy(Behaviour(), trusted("healthy")),
        "degraded": FakeProxy(Behaviour(body=json_body(DEGRADED)), trusted("degraded")),
        "plain": FakeProxy(Behaviour()),
        "stall": StallingServer(),
        "slow": FakeProxy(Behaviour(delay=0.4), trusted("slow")),
        "untrusted": FakeProxy(
            Behaviour(), untrusted_context("untrusted.test", "untrusted.vpce.test")
        ),
        "wrongname": FakeProxy(Behaviour(), tls.server_context("someone-else.test")),
        "s401": FakeProxy(
            Behaviour(401, error_body("AuthenticationFailedException")), trusted("s401")
        ),
        "s403": FakeProxy(Behaviour(403, error_body("AccessDeniedException")), trusted("s403")),
        "s404": FakeProxy(Behaviour(404, error_body("InvalidUriPathException")), trusted("s404")),
        "s500": FakeProxy(Behaviour(500, error_body("InternalException")), trusted("s500")),
        "s429": FakeProxy(Behaviour(429, error_body("ThrottlingException")), trusted("s429")),
        "s503": FakeProxy(
            Behaviour(503, error_body("DependencyTimeoutException")), trusted("s503")
        ),
        "garbage": FakeProxy(Behaviour(body=b"<html>not json</html>"), trusted("garbage")),
        "badschema": FakeProxy(
            Behaviour(body=json_body({"xksProxyFleetSize": 0})), trusted("badschema")
        ),
        "unavailable": FakeProxy(
            Behaviour(body=json_body(ALL_UNAVAILABLE)), trusted("unavailable")
        ),
    }
    addresses = {case: proxy.address for case, proxy in proxies.items()}
    addresses["refused"] = closed_port_address()
    server = start_cks_server(folder, _config(addresses, tls))
    yield Lab(server, proxies, tls, folder)
    server.stop()
    for proxy in proxies.values():
        proxy.close()


def _create(
    client: Any, name: str, host: str, connectivity: str = "PUBLIC_ENDPOINT", **extra: Any
) -> str:
    params: dict[str, Any] = {
        "CustomKeyStoreName": name,
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyConnectivity": connectivity,
        "XksProxyUriEndpoint": f"https://{host}",
        "XksProxyUriPath": f"/{name}/kms/xks/v1",
        "XksProxyAuthenticationCredential": {
            "AccessKeyId": VALID_ACCESS_KEY_ID,
            "RawSecretAccessKey": VALID_SECRET,
        },
        **extra,
    }
    return str(client.create_custom_key_store(**params)["CustomKeyStoreId"])


def _settled(client: Any, store_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        entry = client.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
        return None if entry["ConnectionState"] in ("CONNECTING", "DISCONNECTING") else entry

    return wait_for(done)


@pytest.mark.parametrize("case", sorted(CASES))
def test_create_public_store_reports_the_proxy_outcome(lab: Lab, case: str) -> None:
    client = kms_client(lab.server.url, REGION)
    exception, _ = CASES[case]
    if exception is None:
        store_id = _create(client, f"create-{case}", f"{case}.test")
        entry = client.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
        assert entry["ConnectionState"] == "DISCONNECTED"
        return
    with pytest.raises(ClientError) as raised:
        _create(client, f"create-{case}", f"{case}.test")
    assert raised.value.response["Error"]["Code"] == exception
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Nothing was created.
    names = [
        s["CustomKeyStoreName"] for s in client.describe_custom_key_stores()["CustomKeyStores"]
    ]
    assert f"create-{case}" not in names


@pytest.mark.parametrize("case", sorted(set(CASES) - {"unmapped"}))
def test_connect_vpc_store_ends_with_the_matching_code(lab: Lab, case: str) -> None:
    client = kms_client(lab.server.url, REGION)
    store_id = _create(
        client,
        f"connect-{case}",
        f"{case}.vpce.test",
        "VPC_ENDPOINT_SERVICE",
        XksProxyVpcEndpointServiceName=_vpc_service(case),
    )
    answer = client.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert set(answer) == {"ResponseMetadata"}  # `{}` on the wire, at once
    entry = _settled(client, store_id)
    _, code = CASES[case]
    if code is None:
        assert entry["ConnectionState"] == "CONNECTED"
        assert "ConnectionErrorCode" not in entry
    else:
        assert entry["ConnectionState"] == "FAILED"
        assert entry["ConnectionErrorCode"] == code
        # A FAILED store must be disconnected before it can connect again.
        with pytest.raises(ClientError) as raised:
            client.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert raised.value.response["Error"]["Code"] == "CustomKeyStoreInvalidStateException"
    client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    entry = _settled(client, store_id)
    assert entry["ConnectionState"] == "DISCONNECTED"
    assert "ConnectionErrorCode" not in entry


def test_health_call_is_signed_for_the_proxy_and_names_the_operation(lab: Lab) -> None:
    client = kms_client(lab.server.url, REGION)
    proxy: FakeProxy = lab.proxies["healthy"]
    before = len(proxy.requests)
    store_id = _create(client, "signed-calls", "healthy.test")
    client.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert _settled(client, store_id)["ConnectionState"] == "CONNECTED"
    calls = proxy.requests[before:]
    assert [path for path, _, _ in calls] == ["/signed-calls/kms/xks/v1/health"] * 2
    operations = [
        __import__("json").loads(body)["requestMetadata"]["kmsOperation"] for _, _, body in calls
    ]
    assert operations == ["CreateCustomKeyStore", "ConnectCustomKeyStore"]
    for _, headers, _ in calls:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["host"] == "healthy.test"
        assert f"Credential={VALID_ACCESS_KEY_ID}/" in lowered["authorization"]
        assert "/us-east-1/kms-xks-proxy/aws4_request" in lowered["authorization"]


def test_a_timed_out_health_call_is_retried_once(lab: Lab) -> None:
    client = kms_client(lab.server.url, REGION)
    proxy: FakeProxy = lab.proxies["slow"]
    before = len(proxy.health_calls())
    with pytest.raises(ClientError):
        _create(client, "retry-once", "slow.test")
    wait_for(lambda: len(proxy.health_calls()) - before >= 2, timeout=3)
    assert len(proxy.health_calls()) - before == 2


def test_update_tests_new_values_before_saving_them(lab: Lab) -> None:
    client = kms_client(lab.server.url, REGION)
    store_id = _create(client, "update-check", "healthy.test")
    with pytest.raises(ClientError) as raised:
        client.update_custom_key_store(
            CustomKeyStoreId=store_id, XksProxyUriEndpoint="https://s404.test"
        )
    assert raised.value.response["Error"]["Code"] == "XksProxyInvalidConfigurationException"
    entry = client.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
    assert entry["XksProxyConfiguration"]["UriEndpoint"] == "https://healthy.test"
    client.update_custom_key_store(
        CustomKeyStoreId=store_id, XksProxyUriEndpoint="https://degraded.test"
    )
    entry = client.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
    assert entry["XksProxyConfiguration"]["UriEndpoint"] == "https://degraded.test"


def test_a_dead_proxy_address_fails_the_connection(lab: Lab, tmp_path: Path) -> None:
    """The README's walk: CONNECTED while the proxy answers, NOT_REACHABLE once it is gone."""
    proxy = FakeProxy(Behaviour(), lab.tls.server_context("mortal.test"))
    server = start_cks_server(
        tmp_path,
        f"""
[xks]
resolve = {{ "mortal.test" = "{proxy.address}" }}
ca_bundle = "{lab.tls.ca_path}"
""",
    )
    try:
        client = kms_client(server.url, REGION)
        store_id = _create(client, "mortal", "mortal.test")
        client.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert _settled(client, store_id)["ConnectionState"] == "CONNECTED"
        client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        assert _settled(client, store_id)["ConnectionState"] == "DISCONNECTED"
        proxy.close()
        client.connect_custom_key_store(CustomKeyStoreId=store_id)
        entry = _settled(client, store_id)
        assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == (
            "FAILED",
            "XKS_PROXY_NOT_REACHABLE",
        )
    finally:
        server.stop()


VPC_DECLARATION = """
[[vpc_endpoint_services]]
name = "com.amazonaws.vpce.us-east-1.vpce-svc-{suffix}"
owner = "{owner}"
private_dns_name = "{dns}"
address = "127.0.0.1:9"
{extra}
"""


@pytest.mark.parametrize(
    ("declaration", "exception"),
    [
        ("", "XksProxyVpcEndpointServiceNotFoundException"),
        ("owner=111122223333", "XksProxyVpcEndpointServiceNotFoundException"),
        ("allows_kms = false", "XksProxyVpcEndpointServiceNotFoundException"),
        ("acceptance_required = true", "XksProxyVpcEndpointServiceInvalidConfigurationException"),
        ("availability_zones = 1", "XksProxyVpcEndpointServiceInvalidConfigurationException"),
        ("private_dns_verified = false", "XksProxyVpcEndpointServiceInvalidConfigurationException"),
        ("dns=elsewhere.test", "XksProxyVpcEndpointServiceInvalidConfigurationException"),
    ],
)
def test_vpc_endpoint_service_requirements(
    tmp_path: Path, declaration: str, exception: str
) -> None:
    owner, dns, extra = "000000000000", "vpc.test", ""
    if declaration.startswith("owner="):
        owner = declaration.removeprefix("owner=")
    elif declaration.startswith("dns="):
        dns = declaration.removeprefix("dns=")
    else:
        extra = declaration
    config = (
        ""
        if not declaration
        else VPC_DECLARATION.format(suffix="abc123", owner=owner, dns=dns, extra=extra)
    )
    server = start_cks_server(tmp_path, config)
    try:
        client = kms_client(server.url, REGION)
        with pytest.raises(ClientError) as raised:
            _create(
                client,
                "vpc",
                "vpc.test",
                "VPC_ENDPOINT_SERVICE",
                XksProxyVpcEndpointServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-abc123",
            )
        assert raised.value.response["Error"]["Code"] == exception
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("changed_declaration", "code"),
    [
        ("", "XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND"),
        ("acceptance_required = true", "XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION"),
    ],
)
def test_connect_checks_the_endpoint_service_again(
    tmp_path: Path, changed_declaration: str, code: str
) -> None:
    """The service changed after Create (the server restarted with a new declaration)."""
    good = VPC_DECLARATION.format(suffix="abc123", owner="000000000000", dns="vpc.test", extra="")
    server = start_cks_server(tmp_path, good)
    client = kms_client(server.url, REGION)
    store_id = _create(
        client,
        "vpc",
        "vpc.test",
        "VPC_ENDPOINT_SERVICE",
        XksProxyVpcEndpointServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-abc123",
    )
    server.stop()
    changed = (
        ""
        if not changed_declaration
        else VPC_DECLARATION.format(
            suffix="abc123", owner="000000000000", dns="vpc.test", extra=changed_declaration
        )
    )
    server = start_cks_server(tmp_path, changed, port=server.port)
    try:
        client.connect_custom_key_store(CustomKeyStoreId=store_id)
        entry = _settled(client, store_id)
        assert (entry["ConnectionState"], entry.get("ConnectionErrorCode")) == ("FAILED", code)
    finally:
        server.stop()
