"""cks additions and the plain commands: --help, --version, --debug, explain-connection-error,
--watch, the auto-prompt refusal, and the signing key derivation."""

from __future__ import annotations

import io
from argparse import Namespace
from typing import Any

import pytest

from kmscks.cli import spec
from kmscks.cli.explain import explanation
from kmscks.cli.watch import watch
from tests.cli.stub_kms import StubKMS

D = "describe-custom-key-stores"


@pytest.mark.parametrize("command", [*spec.operation_names(), "explain-connection-error"])
def test_every_command_has_help(command: str, cks: Any) -> None:
    for form in (["--help"], ["help"], ["-h"]):
        result = cks([command, *form])
        assert result.rc == 0 and result.stderr == b""
        assert result.stdout.startswith(
            b"NAME\n       " + command.encode()
            if command != "explain-connection-error"
            else b"usage"
        )
    text = cks([command, "--help"]).stdout.decode()
    if command in spec.operation_names():
        operation = spec.operation(command)
        hidden = {"--limit", "--marker"}
        for option in operation["options"]:
            assert (f"--{option} " in text) != (f"--{option}" in hidden), option
        assert "--endpoint-url" in text and "--generate-cli-skeleton" in text


def test_service_help_lists_the_commands(cks: Any) -> None:
    for form in (["help"], ["--help"], ["-h"]):
        result = cks(form)
        assert result.rc == 0
        for command in spec.operation_names():
            assert command.encode() in result.stdout


def test_version(cks: Any) -> None:
    result = cks(["--version"])
    assert result.rc == 0 and result.stderr == b""
    assert result.stdout.startswith(b"cks/0.1.0 Python/3.") and result.stdout.endswith(b"\n")


def test_debug_logs_to_stderr_and_leaves_stdout_alone(cks: Any, fresh_stub: StubKMS) -> None:
    plain = cks([D, "--endpoint-url", fresh_stub.url, "--page-size", "2"])
    debug = cks([D, "--endpoint-url", fresh_stub.url, "--page-size", "2", "--debug"])
    assert debug.stdout == plain.stdout and debug.rc == 0
    log = debug.stderr.decode()
    assert log.count("Arguments entered to CLI:") == 2
    assert log.count("Making request for OperationModel(name=DescribeCustomKeyStores)") == 3
    assert "'body': b'{\"Limit\": 2}'" in log and "Response body:" in log
    assert " - MainThread - botocore.endpoint - DEBUG - " in log


@pytest.mark.parametrize("code", spec.connection_error_codes())
def test_every_connection_error_code_is_explained(code: str, cks: Any) -> None:
    result = cks(["explain-connection-error", code.lower()])
    assert result.rc == 0
    text = result.stdout.decode()
    assert text.startswith(code + "\n") and "To fix: disconnect the store" in text
    assert len(text.splitlines()) >= 4, text  # a store type, its meaning, the remedy


def test_explanations_follow_the_model_documentation() -> None:
    both = explanation("INVALID_CREDENTIALS")
    assert "CloudHSM key stores:" in both and "External key stores:" in both
    assert "kmsuser" in both and "XksProxyAuthenticationCredential" in both
    vpc = explanation("XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION")
    assert "\n    - It must have a network load balancer (NLB)" in vpc


def test_explain_rejects_unknown_codes(cks: Any) -> None:
    result = cks(["explain-connection-error", "NOPE"])
    assert result.rc == 252 and b"CODE is one of: INVALID_CREDENTIALS" in result.stderr
    everything = cks(["explain-connection-error", "--all"])
    assert everything.rc == 0
    assert all(code.encode() + b"\n" in everything.stdout for code in spec.connection_error_codes())


def test_watch_prints_transitions_until_the_state_is_reached() -> None:
    states = iter(["CONNECTING", "CONNECTING", "FAILED"])

    def describe(params: dict[str, Any]) -> dict[str, Any]:
        state = next(states)
        store = {"CustomKeyStoreId": "cks-1", "CustomKeyStoreName": "n", "ConnectionState": state}
        if state == "FAILED":
            store["ConnectionErrorCode"] = "XKS_PROXY_NOT_REACHABLE"
        return {"CustomKeyStores": [store], "Truncated": False}

    out = io.StringIO()
    options = Namespace(until_state="FAILED", watch_interval=0)
    assert watch(describe, {}, options, out, sleep=lambda seconds: None) == 0
    lines = [line.split("  ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "cks-1  n  CONNECTING",
        "cks-1  n  CONNECTING -> FAILED (XKS_PROXY_NOT_REACHABLE)",
    ]


def test_watch_runs_against_a_server(cks: Any, stub_kms: StubKMS) -> None:
    result = cks([D, "--endpoint-url", stub_kms.url, "--custom-key-store-name", "plain",
                  "--watch", "--until-state", "CONNECTING"])  # fmt: skip
    assert result.rc == 0
    assert result.stdout.decode().rstrip().endswith("cks-0cccccccccccccccc  plain  CONNECTING")


def test_auto_prompt_without_a_terminal_fails_like_aws(cks: Any) -> None:
    result = cks([D, "--cli-auto-prompt"])
    assert result == type(result)(b"", b"Warning: Input is not a terminal (fd=0).\n\n\n", 255)
    assert cks([D, "--generate-cli-skeleton"], AWS_CLI_AUTO_PROMPT="on").rc == 255
    assert (
        cks([D, "--generate-cli-skeleton", "--no-cli-auto-prompt"], AWS_CLI_AUTO_PROMPT="on").rc
        == 0
    )


def test_other_kms_commands_are_refused_plainly(cks: Any) -> None:
    result = cks(["sign"])
    assert result.rc == 252 and result.stdout == b""
    assert result.stderr.startswith(b"\ncks kms sign: not implemented;")
