"""Race bodies shared by the multi-process (PostgreSQL) and multi-worker (SQLite) tests.

Each takes one boto3 client per entry point (a process, or a connection pool on a port served
by several workers) and spreads concurrent requests over them.
"""

from __future__ import annotations

import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.helpers.clients import connection_state, wait_for_state, xks_params
from tests.helpers.proxies import FakeProxy
from tests.scale.conftest import VPC_HOST, VPC_SERVICE, attempt, connect_calls

THREADS = 24


def spread(clients: list[Any], requests: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Send the requests concurrently, request i to client i mod n; each call's outcome."""
    calls = [
        (getattr(clients[index % len(clients)], operation), params)
        for index, (operation, params) in enumerate(requests)
    ]
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda call: attempt(call[0], **call[1]), calls))


def _stores(client: Any) -> list[dict[str, Any]]:
    return list(client.describe_custom_key_stores()["CustomKeyStores"])


def vpc_params(name: str, path: str) -> dict[str, Any]:
    params = xks_params(name, host=VPC_HOST, path=path)
    params["XksProxyConnectivity"] = "VPC_ENDPOINT_SERVICE"
    params["XksProxyVpcEndpointServiceName"] = VPC_SERVICE
    return params


def colliding_names(clients: list[Any]) -> None:
    requests = [
        ("create_custom_key_store", xks_params("contested", path=f"/n{index}/kms/xks/v1"))
        for index in range(60)
    ]
    outcomes = spread(clients, requests)
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) == {"ok", "CustomKeyStoreNameInUseException"}
    for client in clients:
        assert [store["CustomKeyStoreName"] for store in _stores(client)] == ["contested"]


def quota(clients: list[Any], limit: int = 10) -> None:
    requests = [("create_custom_key_store", xks_params(f"racer-{index}")) for index in range(40)]
    outcomes = spread(clients, requests)
    assert outcomes.count("ok") == limit, outcomes
    assert set(outcomes) == {"ok", "LimitExceededException"}
    for client in clients:
        assert len(_stores(client)) == limit


def request_quota(clients: list[Any], rate: int, burst: int = 40) -> None:
    """A burst of one operation (one account and Region) over every entry point at once: the
    request quota lets through one bucket's worth in all, plus what refills while it runs."""
    started = time.monotonic()
    outcomes = spread(clients, [("describe_custom_key_stores", {}) for _ in range(burst)])
    refilled = math.ceil((time.monotonic() - started) * rate)
    assert set(outcomes) == {"ok", "ThrottlingException"}, outcomes
    assert rate <= outcomes.count("ok") <= rate + refilled, (outcomes, refilled)


def xks_uniqueness(clients: list[Any]) -> None:
    same_uri = [
        ("create_custom_key_store", xks_params(f"uri-{index}", path="/same/kms/xks/v1"))
        for index in range(20)
    ]
    outcomes = spread(clients, same_uri)
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) == {"ok", "XksProxyUriInUseException"}
    # Every VPC store needs its own endpoint (private DNS name), whatever its path.
    same_endpoint = [
        ("create_custom_key_store", vpc_params(f"vpc-{index}", f"/vpc{index}/kms/xks/v1"))
        for index in range(20)
    ]
    outcomes = spread(clients, same_endpoint)
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) == {"ok", "XksProxyUriEndpointInUseException"}
    for client in clients:
        assert len(_stores(client)) == 2


def connect_rounds(clients: list[Any], proxy: FakeProxy, rounds: int = 3) -> None:
    """Many Connects of one store at once: one transition, one health call, every round."""
    store_id = clients[0].create_custom_key_store(**xks_params("racing"))["CustomKeyStoreId"]
    for round_number in range(1, rounds + 1):
        connects = [("connect_custom_key_store", {"CustomKeyStoreId": store_id})] * 16
        assert set(spread(clients, connects)) == {"ok"}
        for client in clients:
            wait_for_state(client, store_id, "CONNECTED")
        assert connect_calls(proxy) == round_number
        disconnects = [("disconnect_custom_key_store", {"CustomKeyStoreId": store_id})] * 16
        outcomes = spread(clients, disconnects)
        assert outcomes.count("ok") == 1, outcomes
        assert set(outcomes) <= {"ok", "CustomKeyStoreInvalidStateException"}
        for client in clients:
            wait_for_state(client, store_id, "DISCONNECTED")
    assert connect_calls(proxy) == rounds


def connect_disconnect_chaos(clients: list[Any], proxy: FakeProxy, seed: int = 6) -> None:
    """Connects and Disconnects racing on a few stores settle, with no call repeated."""
    store_ids = [
        clients[0].create_custom_key_store(**xks_params(f"chaos-{index}"))["CustomKeyStoreId"]
        for index in range(4)
    ]
    rng = random.Random(seed)
    requests = [
        (
            rng.choice(["connect_custom_key_store", "disconnect_custom_key_store"]),
            {"CustomKeyStoreId": rng.choice(store_ids)},
        )
        for _ in range(120)
    ]
    outcomes = spread(clients, requests)
    assert set(outcomes) <= {"ok", "CustomKeyStoreInvalidStateException"}, outcomes
    started = sum(
        1
        for (operation, _), outcome in zip(requests, outcomes, strict=True)
        if operation == "connect_custom_key_store" and outcome == "ok"
    )
    settled = {"CONNECTED", "DISCONNECTED"}
    for store_id in store_ids:
        for client in clients:
            wait_for_state(client, store_id, *settled)
    # A health call is made only by a claimed CONNECTING transition, and a Connect that
    # answered {} started at most one.
    calls = connect_calls(proxy)
    assert calls <= started
    # Once settled, one more cycle costs exactly one health call per store.
    for store_id in store_ids:
        if connection_state(clients[0], store_id) == "CONNECTED":
            clients[1].disconnect_custom_key_store(CustomKeyStoreId=store_id)
    for store_id in store_ids:
        wait_for_state(clients[0], store_id, "DISCONNECTED")
    for index, store_id in enumerate(store_ids):
        clients[index % len(clients)].connect_custom_key_store(CustomKeyStoreId=store_id)
    for store_id in store_ids:
        wait_for_state(clients[-1], store_id, "CONNECTED")
    assert connect_calls(proxy) == calls + len(store_ids)


def paged_walk(clients: list[Any], count: int = 23) -> None:
    """Markers from one entry point are accepted by every other."""
    created = [
        clients[index % len(clients)].create_custom_key_store(**xks_params(f"page-{index:02}"))[
            "CustomKeyStoreId"
        ]
        for index in range(count)
    ]
    seen: list[str] = []
    markers: list[str] = []
    params: dict[str, Any] = {"Limit": 4}
    for page in range(count):
        answer = clients[page % len(clients)].describe_custom_key_stores(**params)
        seen += [store["CustomKeyStoreId"] for store in answer["CustomKeyStores"]]
        if not answer["Truncated"]:
            assert "NextMarker" not in answer
            break
        markers.append(answer["NextMarker"])
        params = {"Limit": 4, "Marker": answer["NextMarker"]}
    assert seen == created
    assert len(markers) == len(set(markers)) == (count - 1) // 4
    # The same marker gives the same page on every entry point.
    pages = [
        client.describe_custom_key_stores(Limit=4, Marker=markers[0])["CustomKeyStores"]
        for client in clients
    ]
    assert all(page == pages[0] for page in pages)
