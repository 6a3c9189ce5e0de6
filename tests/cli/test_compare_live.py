"""`aws kms` and `cks kms` against a live `cks serve`: same bytes, same exit codes.

The server holds three VPC external key stores (the first one FAILED after a connect to a proxy
that is not there) and a public one with a non-ASCII name. Read-only cases and error cases
share stores; commands that change state run on two stores in the same state, one per CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.conftest import (
    VPC_SERVICE,
    ForkRunner,
    LiveServer,
    Result,
    Runners,
    as_cks,
    base_env,
    case,
    compare_cases,
    describe_difference,
    wait_for_state,
)
from tests.helpers.clients import kms_client

D = "describe-custom-key-stores"
U = "update-custom-key-store"


@pytest.mark.parametrize("half", [0, 1])
def test_describe_matches_aws(
    half: int, runners: Runners, cli_home: Path, live_server: LiveServer
) -> None:
    e = ("--endpoint-url", live_server.url)
    failed, disconnected = live_server.store_ids[0], live_server.store_ids[1]
    cases = [
        case(D, *e, "--output", fmt) for fmt in ("json", "text", "table", "yaml", "yaml-stream")
    ]
    cases += [
        case(D, *e, "--output", fmt, "--page-size", "1", "--max-items", "3")
        for fmt in ("json", "text", "table", "yaml", "yaml-stream")
    ]
    cases += [
        # Another region holds no stores: the empty result in every format.
        case(D, *e, "--region", "eu-west-3", "--output", fmt)
        for fmt in ("json", "text", "table", "yaml", "yaml-stream")
    ]
    cases += [
        case(D, *e, "--custom-key-store-id", failed, "--output", "table"),
        case(D, *e, "--custom-key-store-id", failed, "--output", "text"),
        case(D, *e, "--custom-key-store-name", "vpc-store-1"),
        case(
            D, *e, "--custom-key-store-id", disconnected, "--custom-key-store-name", "vpc-store-1"
        ),
        case(D, *e, "--custom-key-store-id", "cks-00000000000000000"),
        case(D, *e, "--custom-key-store-name", "no such name"),
        case(D, *e, "--no-paginate", "--output", "text"),
        case(D, *e, "--limit", "1"),
        case(D, *e, "--page-size", "2000"),
        case(D, *e, "--starting-token", "garbage"),
        case(D, *e, "--marker", "garbage"),
        case(D, *e, "--no-sign-request"),
        case(D, *e, AWS_SECRET_ACCESS_KEY="wrong-secret"),
        case(D, *e, AWS_ACCESS_KEY_ID="AKIDUNKNOWN"),
        case(D, *e, "--query", "CustomKeyStores[?ConnectionState=='FAILED'].ConnectionErrorCode"),
        case(D, *e, "--query", "CustomKeyStores[].XksProxyConfiguration", "--output", "table"),
        case(
            D,
            *e,
            "--page-size",
            "1",
            "--query",
            "CustomKeyStores[].CustomKeyStoreName",
            "--output",
            "text",
        ),
        case(D, *e, "--output", "text", TZ="America/Los_Angeles"),
    ]
    diffs = compare_cases(runners, cases[half::2], cli_home)
    assert not diffs, "".join(diffs)


def test_errors_of_the_other_operations_match_aws(
    runners: Runners, cli_home: Path, live_server: LiveServer
) -> None:
    e = ("--endpoint-url", live_server.url)
    failed, disconnected = live_server.store_ids[0], live_server.store_ids[1]
    vpc = (
        "--custom-key-store-type", "EXTERNAL_KEY_STORE",
        "--xks-proxy-connectivity", "VPC_ENDPOINT_SERVICE",
        "--xks-proxy-uri-path", "/kms/xks/v1",
        "--xks-proxy-authentication-credential",
        f"AccessKeyId=ABCDEFGHIJKLMNOPQRST,RawSecretAccessKey={'b' * 43}",
    )  # fmt: skip
    cases = [
        case("connect-custom-key-store", *e, "--custom-key-store-id", failed),
        case("disconnect-custom-key-store", *e, "--custom-key-store-id", disconnected),
        case("delete-custom-key-store", *e, "--custom-key-store-id", failed, "--output", "text"),
        case("delete-custom-key-store", *e, "--custom-key-store-id", "cks-00000000000000000"),
        case(U, *e, "--custom-key-store-id", failed, "--new-custom-key-store-name", "x"),
        case(U, *e, "--custom-key-store-id", disconnected, "--new-custom-key-store-name", "vpc-store-2"),  # noqa: E501
        case(U, *e, "--custom-key-store-id", disconnected, "--xks-proxy-uri-path", "not-a-path"),
        case("connect-custom-key-store", *e),
        case("connect-custom-key-store", *e, "--custom-key-store-id", ""),
        case("create-custom-key-store", *e, "--custom-key-store-name", "vpc-store-1", *vpc,
             "--xks-proxy-uri-endpoint", "https://xks-private5.example.test",
             "--xks-proxy-vpc-endpoint-service-name", VPC_SERVICE.format(5)),
        case("create-custom-key-store", *e, "--custom-key-store-name", "bad-endpoint", *vpc,
             "--xks-proxy-uri-endpoint", "https://xks.example.test:6443",
             "--xks-proxy-vpc-endpoint-service-name", VPC_SERVICE.format(5)),
        case("create-custom-key-store", *e, "--custom-key-store-name", "missing-service", *vpc,
             "--xks-proxy-uri-endpoint", "https://nowhere.example.test",
             "--xks-proxy-vpc-endpoint-service-name", VPC_SERVICE.format(1) + "ff"),
        case("create-custom-key-store", *e, "--custom-key-store-name", "cloudhsm",
             "--cloud-hsm-cluster-id", "cluster-234abcdefABC", "--key-store-password", "kmsPswd1",
             "--trust-anchor-certificate", "file://nothing.pem"),
        case("create-custom-key-store", *e, "--custom-key-store-name", "bogus-type",
             "--custom-key-store-type", "BOGUS", "--output", "yaml"),
    ]  # fmt: skip
    diffs = compare_cases(runners, cases, cli_home)
    assert not diffs, "".join(diffs)


_STORE_ID = re.compile(rb"cks-[0-9a-f]{17}")
FORMAT_SERVICE = {"json": 3, "text": 4, "table": 5, "yaml": 6}


def _lifecycle(
    runner: ForkRunner, home: Path, live: LiveServer, fmt: str, name: str
) -> list[Result]:
    """create, update, connect, connect again (FAILED), disconnect, delete: every answer."""
    index = FORMAT_SERVICE[fmt]
    env = base_env(home)
    e = ["--endpoint-url", live.url, "--output", fmt]
    results = [
        runner(
            [
                "kms", "create-custom-key-store", *e, "--custom-key-store-name", name,
                "--custom-key-store-type", "EXTERNAL_KEY_STORE",
                "--xks-proxy-connectivity", "VPC_ENDPOINT_SERVICE",
                "--xks-proxy-uri-endpoint", f"https://xks-private{index}.example.test",
                "--xks-proxy-uri-path", "/kms/xks/v1",
                "--xks-proxy-vpc-endpoint-service-name", VPC_SERVICE.format(index),
                "--xks-proxy-authentication-credential",
                f"AccessKeyId=ABCDEFGHIJKLMNOPQRST,RawSecretAccessKey={'c' * 43}",
            ],
            env,
        )
    ]  # fmt: skip
    store_id = _STORE_ID.search(results[0].stdout)
    assert store_id, results[0]
    ident = ["--custom-key-store-id", store_id.group().decode()]
    client = kms_client(live.url)

    def step(operation: str, *extra: str) -> None:
        results.append(runner(["kms", operation, *e, *ident, *extra], env))

    step("update-custom-key-store", "--new-custom-key-store-name", name + "-renamed")
    step("connect-custom-key-store")
    wait_for_state(client, ident[1], "FAILED")
    step("connect-custom-key-store")
    step("disconnect-custom-key-store")
    wait_for_state(client, ident[1], "DISCONNECTED")
    step("delete-custom-key-store")
    step("delete-custom-key-store")
    return results


@pytest.mark.parametrize("fmt", list(FORMAT_SERVICE))
def test_state_changes_match_aws(
    fmt: str, runners: Runners, cli_home: Path, live_server: LiveServer
) -> None:
    """Each CLI runs the same lifecycle on its own store (on the same VPC endpoint service,
    one after the other); the answers match once store ids are masked."""
    aws = [as_cks(r) for r in _lifecycle(runners.aws, cli_home, live_server, fmt, f"aws-{fmt}")]
    cks = _lifecycle(runners.cks, cli_home, live_server, fmt, f"cks-{fmt}")
    diffs = []
    for number, (expected, got) in enumerate(zip(aws, cks, strict=True)):
        masked = [
            Result(_STORE_ID.sub(b"cks-ID", r.stdout), _STORE_ID.sub(b"cks-ID", r.stderr), r.rc)
            for r in (expected, got)
        ]
        if masked[0] != masked[1]:
            diffs.append(describe_difference(f"step {number}", expected, got))
    assert not diffs, "".join(diffs)


def test_watch_follows_a_connect_until_failed(cli_home: Path, live_server: LiveServer) -> None:
    """cks's --watch (no aws counterpart) on a real store: CONNECTING, then FAILED with its code."""
    import subprocess

    from tests.cli.conftest import CKS, create_vpc_store

    client = kms_client(live_server.url)
    store_id = create_vpc_store(client, 7, "watched")
    try:
        env = base_env(cli_home)
        e = ["--endpoint-url", live_server.url, "--custom-key-store-id", store_id]
        watcher = subprocess.Popen(
            [*CKS, D, *e, "--watch", "--watch-interval", "0.02", "--until-state", "FAILED"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert watcher.stdout is not None
        first = watcher.stdout.readline()  # the watch is running: now connect
        client.connect_custom_key_store(CustomKeyStoreId=store_id)
        out, err = watcher.communicate(timeout=60)
        assert watcher.returncode == 0, err
        states = [line.split("  ")[-1] for line in (first + out).decode().splitlines()]
        assert states[0] == "DISCONNECTED"
        assert states[-1].endswith("-> FAILED (XKS_PROXY_NOT_REACHABLE)"), states
    finally:
        wait_for_state(client, store_id, "FAILED")
        client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        wait_for_state(client, store_id, "DISCONNECTED")
        client.delete_custom_key_store(CustomKeyStoreId=store_id)


def test_quota_error_is_retried_like_aws(
    runners: Runners, cli_home: Path, live_server: LiveServer
) -> None:
    """LimitExceededException is on botocore's throttling list: retried, then reported with
    "(reached max retries: 2)". Ten public stores fill the quota of region eu-west-2."""
    from tests.cli.conftest import PUBLIC_HOSTS

    client = kms_client(live_server.url, region="eu-west-2")
    credential = {"AccessKeyId": "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey": "d" * 43}
    for index in range(10):
        client.create_custom_key_store(
            CustomKeyStoreName=f"quota-{index}",
            CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            XksProxyUriEndpoint=f"https://{PUBLIC_HOSTS[1]}",
            XksProxyUriPath=f"/q{index}/kms/xks/v1",
            XksProxyAuthenticationCredential=credential,
        )
    over = case(
        "create-custom-key-store", "--endpoint-url", live_server.url, "--region", "eu-west-2",
        "--custom-key-store-name", "one-too-many", "--custom-key-store-type", "EXTERNAL_KEY_STORE",
        "--xks-proxy-connectivity", "PUBLIC_ENDPOINT",
        "--xks-proxy-uri-endpoint", f"https://{PUBLIC_HOSTS[1]}",
        "--xks-proxy-uri-path", "/q10/kms/xks/v1", "--xks-proxy-authentication-credential",
        "AccessKeyId=ABCDEFGHIJKLMNOPQRST,RawSecretAccessKey=" + "d" * 43,
    )  # fmt: skip
    env = base_env(cli_home)
    aws = as_cks(runners.aws(["kms", *over.args], env))
    cks = runners.cks(["kms", *over.args], env)
    assert aws == cks, describe_difference(str(over), aws, cks)
    assert cks.rc == 254
    assert (
        b"(LimitExceededException) when calling the CreateCustomKeyStore operation "
        b"(reached max retries: 2)" in cks.stderr
    )
