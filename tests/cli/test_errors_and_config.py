"""Errors, retries, exit codes and configuration (~/.aws files, AWS_* variables).

Where Debian's aws 2.9.19 behaves like 2.33 the cases are compared with it; the rest
(AWS_ENDPOINT_URL*, which 2.9.19 predates) assert the 2.33 behaviour from the contract.
"""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kmscks.cli.settings import Settings
from tests.cli.conftest import (
    AWS,
    CKS,
    Runners,
    as_cks,
    base_env,
    case,
    compare_cases,
    describe_difference,
    make_home,
    run,
)
from tests.cli.stub_kms import StubKMS

D = "describe-custom-key-stores"


def test_connection_refused_and_server_errors_match_aws(
    aws_cli: str, cli_home: Path, tmp_path: Path
) -> None:
    """Retries take real time (backoff with jitter), so these run the executables in parallel."""
    stubs = [StubKMS() for _ in range(4)]
    try:
        stubs[0].state.fail_statuses = [500, 503, 500]  # aws: all three attempts fail
        stubs[1].state.fail_statuses = [500, 503, 500]  # cks: the same
        stubs[2].state.fail_statuses = [502]  # aws: the retry succeeds
        stubs[3].state.fail_statuses = [502]  # cks: the same
        env = base_env(cli_home)
        jobs = [
            ([AWS, "kms", D, "--endpoint-url", "http://127.0.0.1:9/"], True),
            ([*CKS, D, "--endpoint-url", "http://127.0.0.1:9/"], False),
            ([AWS, "kms", D, "--endpoint-url", stubs[0].url, "--max-items", "1"], True),
            ([*CKS, D, "--endpoint-url", stubs[1].url, "--max-items", "1"], False),
            ([AWS, "kms", D, "--endpoint-url", stubs[2].url, "--max-items", "1"], True),
            ([*CKS, D, "--endpoint-url", stubs[3].url, "--max-items", "1"], False),
        ]
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda job: run(job[0], env, tmp_path), jobs))
        results = [as_cks(r) if is_aws else r for r, (_, is_aws) in zip(results, jobs, strict=True)]
        for aws, cks in zip(results[::2], results[1::2], strict=True):
            assert aws == cks, describe_difference("retries", aws, cks)
        assert results[1].rc == 255
        assert (
            results[1].stderr == b'\nCould not connect to the endpoint URL: "http://127.0.0.1:9/"\n'
        )
        assert b"(reached max retries: 2): stub failure" in results[3].stderr
        assert results[3].rc == 254
        assert len(stubs[1].state.requests) == 3 and len(stubs[3].state.requests) == 2
    finally:
        for stub in stubs:
            stub.stop()


def test_client_errors_are_not_retried_and_max_attempts_is_honoured(
    cks: Any, fresh_stub: StubKMS
) -> None:
    assert cks([D, "--endpoint-url", fresh_stub.url, "--custom-key-store-id", "nope"]).rc == 254
    assert len(fresh_stub.state.requests) == 1
    fresh_stub.state.fail_statuses = [500, 500]
    result = cks([D, "--endpoint-url", fresh_stub.url], AWS_MAX_ATTEMPTS="1")
    assert result.rc == 254 and b"KMSInternalException" in result.stderr
    assert len(fresh_stub.state.requests) == 2


def test_repeated_marker_matches_aws(runners: Runners, cli_home: Path, fresh_stub: StubKMS) -> None:
    fresh_stub.state.repeat_marker = True
    diffs = compare_cases(
        runners, [case(D, "--endpoint-url", fresh_stub.url, "--page-size", "1")], cli_home
    )
    assert not diffs, "".join(diffs)


def _profiles_home(root: Path) -> Path:
    home = make_home(root)
    (home / ".aws" / "config").write_text(
        "[default]\nregion = us-east-1\noutput = text\ncli_timestamp_format = wire\n"
        "[profile eu]\nregion = eu-west-1\n"
        "[profile v1]\nregion = us-east-1\ncli_timestamp_format = none\n"
        "[profile xml]\nregion = us-east-1\noutput = xml\n"
        "[profile prompt]\nregion = us-east-1\ncli_auto_prompt = on\n"
        "[profile tabled]\nregion = us-east-1\noutput = table\n"
        "aws_access_key_id = test\naws_secret_access_key = test\n"
        "[profile process]\nregion = us-east-1\n"
        "credential_process = /bin/echo "
        "'{\"Version\": 1, \"AccessKeyId\": \"test\", \"SecretAccessKey\": \"test\"}'\n"
    )  # fmt: skip
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = test\naws_secret_access_key = test\n"
        "[eu]\naws_access_key_id = test\naws_secret_access_key = test\n"
        "[half]\naws_access_key_id = test\n"
    )
    return home


def test_config_files_and_variables_match_aws(
    runners: Runners, stub_kms: StubKMS, tmp_path: Path
) -> None:
    home = _profiles_home(tmp_path / "home")
    e = ("--endpoint-url", stub_kms.url, "--max-items", "1")
    files = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_DEFAULT_REGION": ""}
    cases = [
        case(D, *e, **files),
        case(D, *e, "--output", "json", **files),
        case(D, *e, "--profile", "eu", **files),
        case(D, *e, "--profile", "tabled", **files),
        case(D, *e, "--profile", "process", **files),
        case(D, *e, "--profile", "v1", **files),
        case(D, *e, "--profile", "half", **files),
        case(D, *e, "--profile", "nosuch", **files),
        case(D, *e, AWS_PROFILE="tabled", **files),
        case(D, *e, AWS_PROFILE="xml"),
        case(
            "connect-custom-key-store",
            "--endpoint-url",
            stub_kms.url,
            "--custom-key-store-id",
            "x",
            "--profile",
            "xml",
        ),
        case(D, *e, AWS_DEFAULT_OUTPUT="Text"),
        case(D, *e, "--profile", "prompt"),
        case(D, *e, "--profile", "prompt", "--no-cli-auto-prompt"),
        case(D, *e, AWS_PROFILE="prompt", AWS_CLI_AUTO_PROMPT="off"),
        case(D, *e, AWS_PROFILE="prompt"),
        case(D, *e, AWS_PROFILE="eu", AWS_DEFAULT_OUTPUT="yaml", **files),
        # An explicit --profile ignores the environment's keys: "eu" has its own.
        case(D, *e, "--profile", "eu", AWS_ACCESS_KEY_ID="bad", AWS_SECRET_ACCESS_KEY="bad"),
        case(D, *e, "--profile", "eu", "--region", "ap-south-1", AWS_REGION="us-west-2"),
        case(D, *e, AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), **files),
        case(D, *e, AWS_CONFIG_FILE=str(tmp_path / "none"), **files),
    ]
    diffs = compare_cases(runners, cases, home)
    assert not diffs, "".join(diffs)


def test_endpoint_url_variables(cks: Any, fresh_stub: StubKMS, tmp_path: Path) -> None:
    """AWS_ENDPOINT_URL_KMS and AWS_ENDPOINT_URL (2.33; 2.9.19 predates them)."""
    assert cks([D, "--max-items", "1"], AWS_ENDPOINT_URL_KMS=fresh_stub.url).rc == 0
    assert cks([D, "--max-items", "1"], AWS_ENDPOINT_URL=fresh_stub.url).rc == 0
    refused = cks(
        [D],
        AWS_ENDPOINT_URL_KMS="http://127.0.0.1:9",
        AWS_ENDPOINT_URL=fresh_stub.url,
        AWS_MAX_ATTEMPTS="1",
    )
    assert refused.stderr == b'\nCould not connect to the endpoint URL: "http://127.0.0.1:9/"\n'
    ok = cks([D, "--endpoint-url", fresh_stub.url], AWS_ENDPOINT_URL_KMS="http://127.0.0.1:9")
    assert ok.rc == 0
    assert len(fresh_stub.state.requests) == 3


def test_endpoint_resolution_order(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[default]\nendpoint_url = http://from-profile\n"
        "[profile svc]\nservices = mine\n[services mine]\nkms =\n  endpoint_url = http://from-services\n"
    )
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "c")}
    assert Settings(env, None).endpoint_url(None, "eu-west-1") == "http://from-profile"
    assert Settings(env, "svc").endpoint_url(None, "eu-west-1") == "http://from-services"
    assert (
        Settings({**env, "AWS_ENDPOINT_URL": "http://g"}, None).endpoint_url(None, "x")
        == "http://g"
    )
    ignored = {**env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_ENDPOINT_URL": "http://g"}
    assert (
        Settings(ignored, None).endpoint_url(None, "eu-west-1")
        == "https://kms.eu-west-1.amazonaws.com"
    )
    assert Settings(ignored, None).endpoint_url("http://o", "eu-west-1") == "http://o"


def test_missing_credentials_says_login_like_2_33(cks: Any, fresh_stub: StubKMS) -> None:
    result = cks(
        [D, "--endpoint-url", fresh_stub.url], AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY=""
    )
    assert result.rc == 253
    assert result.stderr == (
        b'\nUnable to locate credentials. You can configure credentials by running "cks login".\n'
    )
    assert fresh_stub.state.requests == []


def test_non_positive_max_items_warns_like_2_33(cks: Any, fresh_stub: StubKMS) -> None:
    result = cks([D, "--endpoint-url", fresh_stub.url, "--max-items", "0"])
    assert result.rc == 0
    assert (
        result.stderr
        == b"warning: Non-positive values for --max-items may result in undefined behavior.\n"
    )
    assert b"eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAwfQ==" in result.stdout


def test_sigint_exits_130(stub_kms: StubKMS, tmp_path: Path) -> None:
    env = base_env(tmp_path)
    process = subprocess.Popen(
        [*CKS, D, "--endpoint-url", stub_kms.url, "--watch", "--watch-interval", "0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the first snapshot is out: the command is running
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert out.endswith(b"\n") and err == b""


def test_read_timeout(cks: Any, tmp_path: Path) -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = cks([D, "--endpoint-url", url, "--cli-read-timeout", "1"], AWS_MAX_ATTEMPTS="1")
        assert time.monotonic() - started < 10
    assert result.rc == 255
    assert result.stderr == f'\nRead timeout on endpoint URL: "{url}/"\n'.encode()


def test_retry_settings_are_checked_like_botocore(cks: Any, fresh_stub: StubKMS) -> None:
    # aws-cli 2.33.31 (botocore's Config; 2.9.19 agrees): only standard and adaptive modes,
    # at least one attempt, and a variable set to '' counts as set. Exit 255, nothing sent.
    e = [D, "--endpoint-url", fresh_stub.url]
    for env, message in [
        ({"AWS_RETRY_MODE": "legacy"},
         b'Invalid value provided to "mode": "legacy" must be one of: "standard" or "adaptive"'),
        ({"AWS_RETRY_MODE": "<empty>"},
         b'Invalid value provided to "mode": "" must be one of: "standard" or "adaptive"'),
        ({"AWS_MAX_ATTEMPTS": "0"},
         b'Value provided to "max_attempts": 0 must be an integer greater than or equal to one.'),
        ({"AWS_MAX_ATTEMPTS": "<empty>"}, b"invalid literal for int() with base 10: ''"),
        ({"AWS_MAX_ATTEMPTS": "0", "AWS_RETRY_MODE": "legacy"},
         b'Value provided to "max_attempts": 0 must be an integer greater than or equal to one.'),
    ]:  # fmt: skip
        settings = Settings({k: "" if v == "<empty>" else v for k, v in env.items()}, None)
        with pytest.raises(Exception) as raised:
            settings.max_attempts()
            settings.retry_mode()
        assert str(raised.value).encode() == message
    result = cks(e, AWS_RETRY_MODE="legacy")
    assert (result.rc, result.stderr) == (
        255,
        b'\nInvalid value provided to "mode": "legacy" must be one of: "standard" or "adaptive"\n',
    )
    assert fresh_stub.state.requests == []
    assert (
        Settings({"AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "5"}, None).max_attempts() == 5
    )


def test_empty_variables_count_as_set_like_botocore(tmp_path: Path) -> None:
    # aws-cli 2.33.31: AWS_DEFAULT_OUTPUT='' is "Unknown output type: ", AWS_PROFILE='' is a
    # profile that cannot be found, and an empty AWS_ACCESS_KEY_ID means no env credentials
    # (the next source is tried; the secret alone is not "partial").
    config = {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    assert Settings({**config, "AWS_DEFAULT_OUTPUT": ""}, None).output(None) == ""
    assert Settings({**config, "AWS_PROFILE": ""}, None).profile_name == ""
    assert (
        Settings({**config, "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "x"}, "").profile_name == ""
    )
    assert Settings({**config, "AWS_DEFAULT_PROFILE": "x"}, None).profile_name == "x"
    secret_only = Settings(
        {**config, "AWS_SECRET_ACCESS_KEY": "s", "AWS_EC2_METADATA_DISABLED": "true"}, None
    )
    assert secret_only.find_credentials() is None


def test_retry_count_in_error_messages_matches_aws(
    runners: Runners, cli_home: Path, stub_kms: StubKMS
) -> None:
    """botocore says "(reached max retries: N)" whenever the last attempt was the maximum one."""
    e = ("--endpoint-url", stub_kms.url)
    internal = 'raw-error:500:{"__type": "KMSInternalException", "message": "boom"}'
    throttled = 'raw-error:400:{"__type": "ThrottlingException", "message": "slow down"}'
    cases = [
        case(D, *e, "--custom-key-store-name", "nope", AWS_MAX_ATTEMPTS="1"),
        case(D, *e, "--custom-key-store-name", internal, AWS_MAX_ATTEMPTS="1"),
        case(D, *e, "--custom-key-store-name", throttled, AWS_MAX_ATTEMPTS="2"),
        case(D, *e, "--custom-key-store-name", "nope", AWS_MAX_ATTEMPTS="2"),
    ]
    diffs = compare_cases(runners, cases, cli_home)
    assert not diffs, "".join(diffs)


def test_invalid_endpoint_urls_match_aws(runners: Runners, cli_home: Path) -> None:
    # botocore's is_valid_endpoint_url, before any request; 2.33.31 and 2.9.19 agree on these.
    urls = ["http://a..b", "http://", "http:///x", "http://-a.com", "http://a_b.test",
            "http://a b", "http://127.0.0.1:9\t", "http:127.0.0.1:9", "http://x" + "a" * 260,
            "ftp://127.0.0.1:9"]  # fmt: skip
    cases = [case(D, "--endpoint-url", url, "--cli-connect-timeout", "1") for url in urls]
    diffs = compare_cases(runners, cases, cli_home)
    assert not diffs, "".join(diffs)


def test_ipv6_endpoints_are_valid_like_2_33(cks: Any) -> None:
    # aws-cli 2.33.31 accepts an IPv6 literal (2.9.19 says "Invalid endpoint"): the request is
    # made, here through the tests' guard proxy (NO_PROXY names 127.0.0.1 only), as with 2.33.
    result = cks([D, "--endpoint-url", "http://[::1]:9", "--cli-connect-timeout", "1"])
    assert (result.rc, result.stderr) == (
        255,
        b'\nFailed to connect to proxy URL: "http://127.0.0.1:9"\n',
    )


def test_an_empty_region_is_a_region(cks: Any, fresh_stub: StubKMS) -> None:
    # aws-cli 2.33.31 (and 2.9.19): `--region ''` is set, not absent; it passes
    # validate_region_name, signs with an empty region and, without an endpoint, names
    # an invalid one. A region of digits only is refused.
    assert cks([D, "--endpoint-url", fresh_stub.url, "--region", ""]).rc == 0
    scope = fresh_stub.state.requests[-1]["headers"]["Authorization"]
    assert "/20" in scope and "//kms/aws4_request" in scope
    result = cks([D, "--region", ""])
    assert (result.rc, result.stderr) == (255, b"\nInvalid endpoint: https://kms..amazonaws.com\n")
    result = cks([D, "--region", "123", "--endpoint-url", fresh_stub.url])
    assert result.stderr == b"\nProvided region_name '123' doesn't match a supported format.\n"
