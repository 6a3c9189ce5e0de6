"""`aws kms` and `cks kms` against the same canned endpoint print the same bytes and exit codes.

The stub serves CloudHSM stores (with a multi-line PEM), public and VPC external key stores, a
FAILED store, non-ASCII names and a response in non-model member order, five in all, so every
output format is exercised on single and multi-page results. Cases run in parallel threads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.conftest import AWS, CKS, Case, Runners, base_env, case, compare_cases, run
from tests.cli.stub_kms import StubKMS

D = "describe-custom-key-stores"
C = "create-custom-key-store"
FORMATS = ("json", "text", "table", "yaml", "yaml-stream")


def _formats_cases(url: str) -> list[Case]:
    cases = []
    for fmt in FORMATS:
        cases.append(case(D, "--endpoint-url", url, "--output", fmt))
        cases.append(
            case(D, "--endpoint-url", url, "--output", fmt, "--page-size", "2", "--max-items", "3")
        )
        cases.append(
            case(D, "--endpoint-url", url, "--output", fmt, "--custom-key-store-name", "hsm-store")
        )
    return cases


def _pagination_cases(url: str) -> list[Case]:
    e = ("--endpoint-url", url)
    resume = "eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAyfQ=="
    return [
        case(D, *e, "--max-items", "1"),
        case(D, *e, "--page-size", "2", "--max-items", "2"),
        case(D, *e, "--page-size", "2", "--output", "text"),
        case(D, *e, "--page-size", "1", "--max-items", "4", "--output", "text"),
        case(D, *e, "--starting-token", resume, "--max-items", "2"),
        case(D, *e, "--starting-token", resume, "--page-size", "2", "--output", "text"),
        case(D, *e, "--no-paginate"),
        case(D, *e, "--no-paginate", "--output", "text"),
        case(D, *e, "--limit", "2"),
        case(D, *e, "--limit", "2", "--output", "yaml"),
        case(D, *e, "--marker", "b2Zmc2V0OjM="),
        case(D, *e, "--cli-input-json", '{"Limit": 2}', "--output", "text"),
        case(D, *e, "--no-paginate", "--page-size", "2"),
        case(D, *e, "--no-paginate", "--max-items", "2", "--starting-token", "x"),
        case(D, *e, "--starting-token", "garbage"),
        case(D, *e, "--page-size", "0"),
        case(D, *e, "--page-size", "abc"),
        case(D, *e, "--max-items", "abc"),
        case(D, *e, "--limit", "0"),
    ]


def _query_cases(url: str) -> list[Case]:
    e = ("--endpoint-url", url)
    return [
        case(
            D,
            *e,
            "--query",
            "CustomKeyStores[0].CustomKeyStoreName",
            "--page-size",
            "2",
            "--output",
            "text",
        ),
        case(D, *e, "--query", "CustomKeyStores[0].CustomKeyStoreName", "--page-size", "2"),
        case(D, *e, "--query", "NextToken", "--max-items", "1", "--output", "text"),
        case(
            D,
            *e,
            "--query",
            "{Ids: CustomKeyStores[].CustomKeyStoreId, Next: NextToken}",
            "--max-items",
            "2",
        ),
        case(D, *e, "--query", "CustomKeyStores[].CreationDate", "--output", "yaml"),
        case(
            D,
            *e,
            "--query",
            "CustomKeyStores[].[CustomKeyStoreId,ConnectionState]",
            "--output",
            "table",
        ),
        case(
            D,
            *e,
            "--query",
            "CustomKeyStores[].[CustomKeyStoreId,ConnectionState]",
            "--output",
            "text",
        ),
        case(D, *e, "--query", "CustomKeyStores[0]", "--output", "table"),
        case(D, *e, "--query", "length(CustomKeyStores)", "--output", "yaml"),
        case(D, *e, "--query", "CustomKeyStores[?ConnectionState=='FAILED'] | [0].Nothing"),
        case(
            D,
            *e,
            "--query",
            "CustomKeyStores[?ConnectionState=='FAILED'] | [0].Nothing",
            "--output",
            "text",
        ),
        case(
            D,
            *e,
            "--query",
            "CustomKeyStores[].CustomKeyStoreId",
            "--output",
            "yaml-stream",
            "--page-size",
            "2",
        ),
        case(D, *e, "--query", "CustomKeyStores[?"),
        case(D, *e, "--output", "table", "--color", "on"),
        case(D, *e, "--output", "table", "--color", "on", "--query", "CustomKeyStores[0]"),
        case(D, *e, "--output", "json", "--color", "on"),
        # An error while paging comes after the coloured formatter exists: colorama artefacts.
        case(D, *e, "--output", "table", "--color", "on", "--custom-key-store-id", "nope"),
        case(D, *e, "--output", "table", "--color", "on", "--page-size", "0"),
        case(
            "connect-custom-key-store",
            *e,
            "--output",
            "table",
            "--color",
            "on",
            "--custom-key-store-id",
            "cks-missing",
        ),
    ]


def _shape_cases(url: str) -> list[Case]:
    """Queries that give odd shapes, and values at the edges of argparse and validation."""
    e = ("--endpoint-url", url)
    xks = "CustomKeyStores[].XksProxyConfiguration"
    return [
        case(D, *e, "--max-items", "2", "--output", "yaml"),
        case(D, *e, "--no-paginate", "--output", "yaml-stream"),
        case(D, *e, "--starting-token="),
        case(D, *e, "--custom-key-store-name="),
        case(D, *e, "--page-size", "-1"),
        case(D, *e, "--cli-input-json", '{"CustomKeyStoreId": 5}'),
        case(D, *e, "--cli-input-json", '{"CustomKeyStoreId": null}'),
        case(D, *e, "--generate-cli-skeleton", "input", "--cli-input-json", "{bad"),
        case("connect-custom-key-store", "--generate-cli-skeleton", "output",
             "--cli-input-json", '{"CustomKeyStoreId": "x"}', "--output", "table"),
        case(D, *e, "--custom-key-store-name", "file://missing"),
        case(D, *e, "--page-size", "2", "--output", "yaml-stream", "--query", "CustomKeyStores[0]"),
        case(D, *e, "--output", "table", "--query", xks),
        case(D, *e, "--output", "text", "--query", xks),
        case(D, *e, "--output", "table", "--query",
             f"CustomKeyStores[].[CustomKeyStoreName,{xks[18:]}]"),
        case(D, *e, "--output", "text", "--query",
             "CustomKeyStores[].[CustomKeyStoreName,[ConnectionState,CreationDate]]"),
        case(D, *e, "--output", "table", "--query", "[CustomKeyStores[0].CustomKeyStoreName]"),
        case(D, *e, "--output", "table", "--query",
             "{a: CustomKeyStores[0].CustomKeyStoreName, b: `true`, c: `null`}"),
    ]  # fmt: skip


SHORTHAND_VALUES = (
    'AccessKeyId="ABC,DEF",RawSecretAccessKey=x',
    "AccessKeyId = a , RawSecretAccessKey = b",
    "AccessKeyId=a,AccessKeyId=b",
    "AccessKeyId=a,",
    "=a",
    'AccessKeyId=a,RawSecretAccessKey="x',
    "AccessKeyId=[a,b]",
    "AccessKeyId={x=y}",
    "AccessKeyId=[a,b",
    "AccessKeyId=a,b,RawSecretAccessKey=c",
    "AccessKeyId='it\\'s',RawSecretAccessKey=c",
    "AccessKeyId=a\\,b",
    ' {"AccessKeyId": "a"',
)


def _shorthand_cases(url: str) -> list[Case]:
    return [
        case(C, "--endpoint-url", url, "--custom-key-store-name", "n",
             "--xks-proxy-authentication-credential", value)
        for value in SHORTHAND_VALUES
    ]  # fmt: skip


def _option_cases(url: str, tmp: Path) -> list[Case]:
    e = ("--endpoint-url", url)
    (tmp / "input.json").write_text('{"CustomKeyStoreName": "xks-public"}')
    (tmp / "name.bin").write_bytes(b"hsm-store")
    (tmp / "latin1.txt").write_bytes(b"\xff\xfe")
    return [
        case(D, *e, "--custom-key-store-id", "cks-0aaaaaaaaaaaaaaaa", "--output", "text"),
        case(D, *e, "--custom-key-store-id", "cks-nope"),
        case(D, *e, "--custom-key-store-id", ""),
        case(D, *e, "--cli-input-json", "file://input.json"),
        case(D, *e, "--cli-input-json", "fileb://input.json", "--output", "text"),
        case(D, *e, "--custom-key-store-name", "fileb://name.bin"),
        case(D, *e, "--custom-key-store-name", "file://name.bin", "--output", "text"),
        case(D, *e, "--custom-key-store-name", "file://latin1.txt"),
        case(
            D, *e, "--cli-input-json", '{"CustomKeyStoreName": "hsm-two"}',
            "--custom-key-store-name", "hsm-store",
        ),
        case(D, *e, "--cli-input-yaml", "CustomKeyStoreName: plain"),
        case(D, *e, "--cli-input-json", '{"Foo": 1}'),
        case(D, *e, "--cli-input-json", "{nope"),
        case(D, *e, "--cli-input-json", "file://missing.json"),
        case(D, *e, "--cli-input-json", "{}", "--cli-input-yaml", "{}"),
        case(D, *e, "--cli-input-json", "[1]"),
        # Empty values are given, not absent (2.33.31 and 2.9.19 alike)
        case(D, *e, "--cli-input-json", ""),
        case(D, *e, "--cli-input-yaml", ""),
        case(D, *e, "--cli-input-json", "", "--cli-input-yaml", ""),
        case(D, "--generate-cli-skeleton"),
        case(D, "--generate-cli-skeleton", "input"),
        case(D, "--generate-cli-skeleton", "yaml-input"),
        case(D, "--generate-cli-skeleton", "output"),
        case(D, "--generate-cli-skeleton", "bogus"),
        case("connect-custom-key-store", "--generate-cli-skeleton"),
        case("delete-custom-key-store", "--generate-cli-skeleton", "yaml-input"),
        case(D, *e, "--foo", "bar"),
        case(D, *e, "stray"),
        case(D, "--endpoint-url", "not a url"),
        case(D, *e, "--output", "xml"),
        case(D, *e, "--color", "purple"),
        case(D, *e, "--cli-binary-format", "hex"),
        case(D, *e, "--cli-binary-format", "base64", "--no-cli-pager", "--no-cli-auto-prompt"),
        case(D, *e, "--cli-read-timeout", "abc"),
        case(D, *e, "--cli-auto-prompt"),
        case(),
        case("--output", "text"),
        case("describe-custom-key-store"),
        case(C, "--generate-cli-skeleton", "output", "--custom-key-store-name", "x"),
        case("connect-custom-key-store", "--generate-cli-skeleton", "output", "--output", "text"),
        case(D, *e, "--cli-input-json", "file:///dev/stdin"),
        case(D, f"--endpoint-url={e[1]}", "--out", "text", "--max-items", "1"),
        case(D, *e, "--page", "1", "--max-items", "1"),
        case(D, *e, "--custom-key-store-name", "raw-error:403:<html>Forbidden</html>"),
        case(D, *e, "--custom-key-store-name", "raw-error:400:"),
        case(D, *e, "--custom-key-store-name", 'raw-error:400:{"__type": "a#No", "Message": "M"}'),
        case(D, *e, "--custom-key-store-name", 'raw-error:404:{"message": "no type"}'),
        case(D, *e, "--custom-key-store-name", "raw-error:200:not json"),
        case(D, *e, "--max-items", "1", AWS_CLI_AUTO_PROMPT="on-partial"),
        case(D, *e, "--cli-read-timeout", "5", "--cli-connect-timeout", "0"),
        case(D, *e, "--ca-bundle", "/nonexistent/ca.pem", "--no-verify-ssl", "--max-items", "1"),
        case(D, *e, "--region", "eu-west-1", "--max-items", "1"),
        case(D, *e, "--region", "us east", "--max-items", "1"),
        case(D, *e, "--max-items", "1", AWS_REGION="x_y"),
        case(D, *e, "--max-items", "1", AWS_DEFAULT_OUTPUT="table"),
        case(D, *e, "--max-items", "1", AWS_REGION="eu-west-2", AWS_DEFAULT_REGION=""),
        case(D, *e, AWS_DEFAULT_REGION=""),
        case(D, *e, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY=""),
        case(D, *e, "--profile", "nosuch"),
        case(D, *e, "--output", "text", TZ="America/Los_Angeles"),
        case(D, *e, "--output", "yaml", TZ="Asia/Kolkata"),
        case("update-custom-key-store", *e),
        case("update-custom-key-store", *e, "--custom-key-store-id", "cks-missing"),
        case("connect-custom-key-store", *e, "--custom-key-store-id", "cks-1", "--output", "text"),
        case("delete-custom-key-store", *e, "--custom-key-store-id", "cks-1", "--output", "table"),
        case("create-custom-key-store", *e, "--custom-key-store-name", "n", "--output", "table"),
        case(
            "create-custom-key-store", *e, "--custom-key-store-name", "n",
            "--xks-proxy-authentication-credential", "AccessKeyId=AB",
        ),
        case(
            "create-custom-key-store", *e, "--custom-key-store-name", "n",
            "--xks-proxy-authentication-credential", "AccessKeyId",
        ),
        case(
            "create-custom-key-store", *e, "--custom-key-store-name", "n",
            "--xks-proxy-authentication-credential", '{"AccessKeyId": "A", "Foo": 1}',
        ),
        case(
            "create-custom-key-store", *e, "--custom-key-store-name", "",
            "--key-store-password", "x",
        ),
        case(
            "update-custom-key-store", *e, "--custom-key-store-id", "cks-1",
            "--xks-proxy-uri-path", "file://missing",
        ),
    ]  # fmt: skip


GROUPS = {
    "formats": lambda url, tmp: _formats_cases(url),
    "pagination": lambda url, tmp: _pagination_cases(url),
    "query": lambda url, tmp: _query_cases(url),
    "shapes": lambda url, tmp: _shape_cases(url),
    "shorthand": lambda url, tmp: _shorthand_cases(url),
    # The option cases are many: two halves, so that xdist can spread them.
    "options-1": lambda url, tmp: _option_cases(url, tmp)[::2],
    "options-2": lambda url, tmp: _option_cases(url, tmp)[1::2],
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_same_output_as_aws(
    group: str, runners: Runners, cli_home: Path, stub_kms: StubKMS, tmp_path: Path
) -> None:
    cases = GROUPS[group](stub_kms.url, tmp_path)
    diffs = compare_cases(runners, cases, cli_home, cwd=tmp_path)
    assert not diffs, "".join(diffs)


def test_the_fork_servers_answer_like_the_executables(
    runners: Runners, cli_home: Path, stub_kms: StubKMS, tmp_path: Path
) -> None:
    """The comparisons run both CLIs in forked children; this checks them against the real
    /usr/bin/aws and `python -m kmscks` processes."""
    for item in (
        case(D, "--endpoint-url", stub_kms.url, "--page-size", "2", "--max-items", "3"),
        case(D, "--endpoint-url", stub_kms.url, "--output", "table", "--color", "on"),
        case(D, "--page-size", "abc"),
    ):
        env = base_env(cli_home, **dict(item.env))
        args = ["kms", *item.args]
        assert runners.aws(args, env, tmp_path) == run([AWS, *args], env, tmp_path), str(item)
        assert runners.cks(args, env, tmp_path) == run([*CKS, *item.args], env, tmp_path)


_ENUM_VALUE = re.compile(rb"AWS_CLOUDHSM|EXTERNAL_KEY_STORE|PUBLIC_ENDPOINT|VPC_ENDPOINT_SERVICE")


@pytest.mark.parametrize("command", [C, "update-custom-key-store"])
@pytest.mark.parametrize("kind", ["input", "yaml-input"])
def test_skeletons_with_enums_match_aws(
    command: str, kind: str, runners: Runners, cli_home: Path
) -> None:
    """botocore fills enums with a random value; cks takes the first. The rest must match."""
    env = base_env(cli_home)
    args = ["kms", command, "--generate-cli-skeleton", kind]
    aws, cks = runners.aws(args, env), runners.cks(args, env)
    assert _ENUM_VALUE.sub(b"ENUM", aws.stdout) == _ENUM_VALUE.sub(b"ENUM", cks.stdout)
    assert (aws.stderr, aws.rc) == (cks.stderr, cks.rc) == (b"", 0)
    assert (
        b"PUBLIC_ENDPOINT" in cks.stdout
        and b"VPC_ENDPOINT_SERVICE" not in cks.stdout.split(b"Valid")[0]
    )


def test_debug_changes_only_stderr_like_aws(
    runners: Runners, cli_home: Path, stub_kms: StubKMS
) -> None:
    """--debug logs differ in detail (and in timestamps), but stdout and exit code match aws."""
    env = base_env(cli_home)
    for args in (
        [D, "--endpoint-url", stub_kms.url, "--page-size", "2", "--debug"],
        [D, "--endpoint-url", stub_kms.url, "--custom-key-store-id", "nope", "--debug"],
    ):
        aws, cks = runners.aws(["kms", *args], env), runners.cks(["kms", *args], env)
        assert (aws.stdout, aws.rc) == (cks.stdout, cks.rc)
        assert aws.stderr.count(b"Arguments entered to CLI") == cks.stderr.count(
            b"Arguments entered to CLI"
        )
        assert b"An error occurred" not in aws.stderr or cks.stderr.endswith(
            aws.stderr[aws.stderr.rindex(b"\nAn error occurred") :]
        )
