"""Fixtures for the `cks kms` tests: the AWS CLI v2 to compare with, a temp HOME, servers.

`aws` is Debian's AWS CLI v2 at /usr/bin/aws (a pip-installed v1 may shadow it on PATH). It is
given the installed botocore's KMS model through ~/.aws/models, so both CLIs describe the
operations from the same model (Debian's 2.9.19 bundles an older one without
VpcEndpointServiceOwner). Every process gets a temp HOME, fixed TZ, no pager and
AWS_EC2_METADATA_DISABLED, so nothing leaves 127.0.0.1. Under CI=true a missing AWS CLI v2 fails.
"""

from __future__ import annotations

import functools
import gzip
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore
import pytest

from tests.cli.stub_kms import StubKMS
from tests.conftest import AWS_CLI, require
from tests.helpers import clients
from tests.helpers.proxies import Behaviour, FakeProxy
from tests.helpers.server import ServerProcess, start_cks_server

AWS = AWS_CLI
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Result:
    stdout: bytes
    stderr: bytes
    rc: int

    def text(self) -> tuple[str, str, int]:
        return self.stdout.decode(), self.stderr.decode(), self.rc


def _aws_is_v2() -> bool:
    if not os.access(AWS, os.X_OK):
        return False
    try:
        out = subprocess.run([AWS, "--version"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.startswith(b"aws-cli/2.")


@pytest.fixture(scope="session")
def aws_cli() -> str:
    require(_aws_is_v2(), f"the AWS CLI v2 at {AWS}")
    return AWS


def make_home(root: Path) -> Path:
    """A HOME whose ~/.aws/models holds the installed botocore's KMS model."""
    models = root / ".aws" / "models" / "kms" / "2014-11-01"
    models.mkdir(parents=True, exist_ok=True)
    data = Path(botocore.__file__).parent / "data" / "kms" / "2014-11-01"
    (models / "service-2.json").write_bytes(
        gzip.decompress((data / "service-2.json.gz").read_bytes())
    )
    shutil.copy(data / "paginators-1.json", models / "paginators-1.json")
    return root


@pytest.fixture(scope="session")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_home(tmp_path_factory.mktemp("cli-home"))


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of every CLI run in these tests (an empty value in `extra` unsets)."""
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        # A guard: a request to anything but 127.0.0.1 (say, the default AWS endpoint) goes to
        # a closed local port instead of leaving the machine, and fails the comparison.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.update(extra)
    # An empty value in a case means "unset".
    return {key: value for key, value in env.items() if value}


CKS = [sys.executable, "-m", "kmscks", "kms"]


def run(
    command: list[str], env: dict[str, str], cwd: Path | None = None, stdin: bytes = b""
) -> Result:
    done = subprocess.run(
        command, env=env, cwd=cwd, input=stdin, capture_output=True, timeout=120, check=False
    )
    return Result(done.stdout, done.stderr, done.returncode)


def run_cks(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Result:
    return run([*CKS, *args], env, cwd)


# The program's name, not the partition in an ARN (`arn:aws:kms:...`) or the AWS web address
# (`docs.aws.amazon.com`) a service message quotes.
_PROGRAM = re.compile(rb"(?<!:)\baws\b(?!\.amazon\.com)")


# 2.33 changed this hint from "aws configure" to "aws login" (aws-cli-behaviour.md §8);
# Debian's 2.9.19 still prints the old one, and cks follows 2.33.
_OLD_CREDENTIALS_HINT = b'configure credentials by running "cks configure".'
_NEW_CREDENTIALS_HINT = b'configure credentials by running "cks login".'


# Debian's 2.9.19 prints argparse errors as usage first, then `aws: error: <message>`, and an
# invalid choice as the list of every valid choice; 2.33.31 prints `aws: [ERROR]: <message>`,
# then the usage, and names the invalid value instead (aws-cli-behaviour.md §8;
# awscli/argparser.py at 2.33.31).
_ARGPARSE_2_9 = re.compile(rb"\A\n(usage: .*?\n)\ncks: error: (.*?)\n\n\Z", re.S)
_CHOICES_2_9 = re.compile(
    rb"\A(argument [^:]+): Invalid choice, valid choices are:\n\n.*?"
    rb"(?:\n\nInvalid choice: '([^']*)', maybe you meant:\n\n(.*))?\Z",
    re.S,
)


def _invalid_value(argument: bytes, args: tuple[str, ...]) -> str:
    """The value an `argument X: Invalid choice` error was about (2.9.19 does not print it)."""
    name = argument.decode().removeprefix("argument ")
    if not name.startswith("-"):  # a positional: the command or operation
        return next(arg for arg in args if not arg.startswith("-"))
    for index, arg in enumerate(args):
        if arg == name:
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"no value for {name} in {args}")


def _argparse_as_2_33(stderr: bytes, args: tuple[str, ...] | None) -> bytes:
    found = _ARGPARSE_2_9.match(stderr)
    if not found:
        return stderr
    usage, message = found.groups()
    choice = _CHOICES_2_9.match(message)
    if choice:
        argument, value, matches = choice.groups()
        if value is None:
            assert args is not None, "an invalid-choice error needs the command's arguments"
            value = _invalid_value(argument, args).encode()
        message = argument + b": Found invalid choice '" + value + b"'\n"
        if matches:
            message += b"\nMaybe you meant:\n\n" + matches
    return b"\ncks: [ERROR]: " + message + b"\n\n" + usage + b"\n"


# awscli 2.2x added a space before the input line of a shorthand syntax error (`for input:\n %s`
# in awscli/shorthand.py at 2.33.31); 2.9.19 prints the input at the start of the line.
_SHORTHAND_INPUT_2_9 = re.compile(rb"(Expected: '[^\n]*', received: '[^\n]*' for input:\n)")


def as_cks(result: Result, args: tuple[str, ...] | None = None) -> Result:
    """The aws result as 2.33 would print it, with the program's name spelled `cks`; `args`
    (after `kms`) name the value of an invalid-choice error, which 2.9.19 does not print."""
    stderr = _PROGRAM.sub(b"cks", result.stderr).replace(
        _OLD_CREDENTIALS_HINT, _NEW_CREDENTIALS_HINT
    )
    stderr = _SHORTHAND_INPUT_2_9.sub(rb"\1 ", stderr)
    return Result(result.stdout, _argparse_as_2_33(stderr, args), result.rc)


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.env)
        return f"{extra} kms {' '.join(self.args)}".strip()


def case(*args: str, **env: str) -> Case:
    return Case(tuple(args), tuple(sorted(env.items())))


class ForkRunner:
    """A command through a pool of forkserver.py processes: the same code as the executable,
    with the imports done once and a fresh forked child per command."""

    def __init__(self, program: str, home: Path, size: int = 1) -> None:
        self._program = program
        import queue

        self._idle: queue.Queue[subprocess.Popen[str]] = queue.Queue()
        self._all = []
        for _ in range(size):
            server = subprocess.Popen(
                [
                    "/usr/bin/python3" if program == "aws" else sys.executable,
                    *(["-I"] if program == "aws" else []),
                    str(Path(__file__).with_name("forkserver.py")),
                    program,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=base_env(home),
            )
            self._all.append(server)
            self._idle.put(server)

    def __call__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> Result:
        import base64
        import json

        server = self._idle.get()
        try:
            assert server.stdin is not None and server.stdout is not None
            request = {"args": args, "env": env, "cwd": str(cwd or REPO)}
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            answer = json.loads(server.stdout.readline())
        finally:
            self._idle.put(server)
        return Result(
            base64.b64decode(answer["stdout"]), base64.b64decode(answer["stderr"]), answer["rc"]
        )

    def close(self) -> None:
        for server in self._all:  # all told at once: each exits at the end of its stdin
            assert server.stdin is not None
            server.stdin.close()
        for server in self._all:
            assert server.stdout is not None
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                # It exits at the end of its stdin, which never comes while a duplicate of the
                # pipe's write end stays open anywhere in this process (a test that leaked
                # descriptor duplicates once cost every session 60 s here). Teardown: stop it.
                sys.stderr.write(f"{self._program} fork server did not exit; killed\n")
                server.kill()
                server.wait(10)
            server.stdout.close()


@dataclass
class Runners:
    aws: ForkRunner
    cks: ForkRunner


@pytest.fixture(scope="session")
def runners(aws_cli: str, cli_home: Path) -> Iterator[Runners]:
    both = Runners(ForkRunner("aws", cli_home), ForkRunner("cks", cli_home))
    yield both
    both.aws.close()
    both.cks.close()


def compare_cases(
    runners: Runners, cases: list[Case], home: Path, cwd: Path | None = None, workers: int = 2
) -> list[str]:
    """Run every case with aws and cks (in parallel) and describe each difference."""

    def one(item: Case) -> str | None:
        env = base_env(home, **dict(item.env))
        expected = as_cks(runners.aws(["kms", *item.args], env, cwd), item.args)
        got = runners.cks(["kms", *item.args], env, cwd)
        return None if expected == got else describe_difference(str(item), expected, got)

    with ThreadPoolExecutor(workers) as pool:
        return [diff for diff in pool.map(one, cases) if diff]


def describe_difference(title: str, aws: Result, cks: Result) -> str:
    return (
        f"\n=== {title}\naws rc={aws.rc}\n--- aws stdout\n{aws.stdout.decode(errors='replace')}"
        f"--- aws stderr\n{aws.stderr.decode(errors='replace')}\ncks rc={cks.rc}\n"
        f"--- cks stdout\n{cks.stdout.decode(errors='replace')}"
        f"--- cks stderr\n{cks.stderr.decode(errors='replace')}"
    )


@pytest.fixture(scope="session")
def stub_kms() -> Iterator[StubKMS]:
    stub = StubKMS()
    yield stub
    stub.stop()


@pytest.fixture
def fresh_stub() -> Iterator[StubKMS]:
    stub = StubKMS()
    yield stub
    stub.stop()


VPC_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef{}"
PUBLIC_HOSTS = ("xks-a.example.test", "xks-b.example.test")


@dataclass
class LiveServer:
    process: ServerProcess
    store_ids: list[str]

    @property
    def url(self) -> str:
        return self.process.url


def _live_config(proxy: FakeProxy, services: int) -> str:
    resolve = ", ".join(f'"{host}" = "{proxy.address}"' for host in PUBLIC_HOSTS)
    hosts = ", ".join(f'"{host}"' for host in PUBLIC_HOSTS)
    config = f"[xks]\nresolve = {{ {resolve} }}\nallow_http = [{hosts}]\n"
    for index in range(services):
        # Connect reaches no proxy on port 9, so these stores end up FAILED when connected.
        config += (
            "\n[[vpc_endpoint_services]]\n"
            f'name = "{VPC_SERVICE.format(index)}"\n'
            'owner = "000000000000"\n'
            f'private_dns_name = "xks-private{index}.example.test"\n'
            'address = "127.0.0.1:9"\n'
        )
    return config


def create_vpc_store(client: Any, index: int, name: str) -> str:
    answer = client.create_custom_key_store(
        CustomKeyStoreName=name,
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyConnectivity="VPC_ENDPOINT_SERVICE",
        XksProxyUriEndpoint=f"https://xks-private{index}.example.test",
        XksProxyUriPath="/kms/xks/v1",
        XksProxyVpcEndpointServiceName=VPC_SERVICE.format(index),
        XksProxyAuthenticationCredential={
            "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
            "RawSecretAccessKey": "a" * 43,
        },
    )
    return str(answer["CustomKeyStoreId"])


@pytest.fixture(scope="session")
def cli_proxy() -> Iterator[FakeProxy]:
    """A healthy XKS proxy on 127.0.0.1 for the public external key store."""
    proxy = FakeProxy(Behaviour())
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, cli_proxy: FakeProxy
) -> Iterator[LiveServer]:
    """A `cks serve` with three VPC stores (the first one FAILED) and one public store."""
    from tests.helpers.clients import kms_client

    process = start_cks_server(tmp_path_factory.mktemp("cli-live"), _live_config(cli_proxy, 8))
    try:
        client = kms_client(process.url)
        ids = [create_vpc_store(client, index, f"vpc-store-{index}") for index in range(3)]
        ids.append(
            client.create_custom_key_store(
                CustomKeyStoreName="Ünïcødé public 名前",
                CustomKeyStoreType="EXTERNAL_KEY_STORE",
                XksProxyConnectivity="PUBLIC_ENDPOINT",
                XksProxyUriEndpoint=f"https://{PUBLIC_HOSTS[0]}",
                XksProxyUriPath="/kms/xks/v1",
                XksProxyAuthenticationCredential={
                    "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
                    "RawSecretAccessKey": "a" * 43,
                },
            )["CustomKeyStoreId"]
        )
        client.connect_custom_key_store(CustomKeyStoreId=ids[0])
        wait_for_state(client, ids[0], "FAILED")
        yield LiveServer(process, ids)
    finally:
        process.stop()


wait_for_state = functools.partial(clients.wait_for_state, timeout=15.0)


@pytest.fixture
def cks(
    monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes], tmp_path: Path
) -> Iterator[Callable[..., Result]]:
    """Run `cks kms ...` in this process: cks(args, **env) -> Result. HOME is a fresh temp dir
    AWS_* comes only from `env` (plus test/test/us-east-1 unless overridden)."""
    from kmscks.cli.main import main

    home = tmp_path / "home"
    home.mkdir()

    def invoke(args: list[str], **env: str) -> Result:
        for key in list(os.environ):
            if key.startswith("AWS_") or key in ("HOME", "TZ"):
                monkeypatch.delenv(key, raising=False)
        for key, value in base_env(home, **env).items():
            monkeypatch.setenv(key, value)
        import time

        time.tzset()
        capfdbinary.readouterr()
        rc = main(args)
        out, err = capfdbinary.readouterr()
        return Result(out, err, rc)

    invoke.home = home  # type: ignore[attr-defined]
    yield invoke
    monkeypatch.undo()
    import time

    time.tzset()


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A `cks serve` of its own, for tests that create things (key stores, clusters) and must
    not change what the comparison tests see on `live_server`."""
    config = '[xks]\nresolve = { "xks.example.test" = "127.0.0.1:9" }\n'
    process = start_cks_server(tmp_path_factory.mktemp("cli-plain"), config)
    yield process
    process.stop()


CKS_SCRIPT = Path(sys.executable).with_name("cks")
