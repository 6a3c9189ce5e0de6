"""`cks serve` refuses what it cannot serve with a message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmscks", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[xks]\ntimeout = 5\n", "unknown setting(s) in [xks]: timeout"),
        ("[nonsense]\n", "unknown section(s)"),
        ("garbage = [", "is not valid TOML"),
        ("[xks]\ntimeout_ms = 'fast'\n", "xks.timeout_ms must be of type int"),
        (
            "[[credentials]]\naccess_key_id='A'\nsecret_access_key='s'\naccount_id='12'\n",
            "12 digits",
        ),
        ("[server]\nmaster_key = 'c2hvcnQ='\n", "32 bytes"),
        # A misspelt required setting is named as written, then the one that is missing.
        (
            "[[credentials]]\naccess_key_id='A'\nsecret_acces_key='s'\naccount_id='1'\n",
            "unknown setting(s) in credentials[0]: secret_acces_key",
        ),
        ("[[credentials]]\naccess_key_id='A'\naccount_id='1'\n", "needs secret_access_key"),
        ("[[vpc_endpoint_services]]\nname = 'x'\n", "needs owner, private_dns_name, address"),
        ("[[cloudhsm.subnets]]\nid = 'subnet-1'\n", "needs availability_zone"),
        ("[[credentials]]\n", "needs access_key_id, secret_access_key, account_id"),
        ("credentials = ['x']\n", "credentials[0] must be a table"),
        # TLS files are loaded at start-up: a missing or broken one is named there.
        ("[xks]\nca_bundle = 'nope.pem'\n", "xks.ca_bundle: no such file: "),
        ("[xks]\nca_bundle = 'cks.toml'\n", "xks.ca_bundle: not a PEM certificate bundle"),
        (
            "[xks]\nclient_cert = 'cks.toml'\nclient_key = 'cks.toml'\n",
            "xks.client_cert / xks.client_key: not a PEM certificate and its key",
        ),
    ],
)
def test_bad_config_files(tmp_path: Path, config: str, message: str) -> None:
    path = tmp_path / "cks.toml"
    path.write_text(config)
    result = serve("--config", str(path), "--data-dir", str(tmp_path / "data"), "--port", "1")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_config_error_never_shows_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "cks.toml"
    path.write_text(
        "[[credentials]]\naccess_key_id='A'\nsecret_access_key=123456789\naccount_id='1'\n"
    )
    result = serve("--config", str(path), "--data-dir", str(tmp_path / "data"), "--port", "1")
    assert result.returncode == 2
    assert "credentials[0].secret_access_key must be of type str" in result.stderr
    assert "123456789" not in result.stderr


def test_a_bad_port_or_data_dir_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for port in ("99999", "-1", "http"):
        result = serve("--port", port, "--data-dir", str(data))
        assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
        assert "--port" in result.stderr
        assert not data.exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    result = serve("--data-dir", str(a_file), "--port", "1")
    assert (result.returncode, result.stderr) == (2, f"cks serve: {a_file} is not a directory\n")
    assert a_file.read_text() == "mine"


def test_bad_databases_and_options(tmp_path: Path) -> None:
    for args, message in (
        (("--database-url", "mysql://x"), "use postgresql://"),
        (("--database-url", "postgresql://postgres@127.0.0.1:1/x"), "cannot connect to PostgreSQL"),
        (("--config", str(tmp_path / "missing.toml")), "cannot read config file"),
        (("--workers", "0"), "--workers must be at least 1"),
    ):
        result = serve(*args, "--key-dir", str(tmp_path / "keys"))
        assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
        assert message in result.stderr


def test_a_taken_port_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    result = serve("--port", str(server.port), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{server.port}" in result.stderr


def test_a_failed_start_leaves_no_data_behind(server: ServerProcess, tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    result = serve("--port", str(server.port), "--data-dir", str(data))
    assert result.returncode == 2 and "cannot listen" in result.stderr
    assert not (tmp_path / "new").exists()
    # A data dir that existed keeps what it had, and gets nothing new.
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    result = serve("--port", str(server.port), "--data-dir", str(existing))
    assert result.returncode == 2
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"]


def test_version_banner_and_server_header(server: ServerProcess) -> None:
    import urllib.request
    from importlib.metadata import version

    import kmscks

    expected = version("kms-cks")
    assert kmscks.__version__ == expected
    result = serve("--version")  # the line every cks command prints
    assert (result.returncode, result.stdout) == (0, kmscks.version_string() + "\n")
    assert result.stdout.startswith(f"cks/{expected} Python/")
    with urllib.request.urlopen(f"{server.url}/_cks/health", timeout=5) as answer:
        assert answer.headers["Server"] == f"cks/{expected}"
    request = urllib.request.Request(server.url + "/", b"{}", {"X-Amz-Target": "Nope.Nope"})
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as error:
        assert error.headers["Server"] == f"cks/{expected}"
    else:
        raise AssertionError("an unknown operation was answered 200")
    assert f"cks {expected} listening on {server.url}" in server.log()
    # uvloop is a dependency on Linux: the workers run on it (docs/benchmarks.md, why).
    assert "uvloop event loop)" in server.log()


def _store_count(url: str) -> int:
    from tests.helpers.clients import kms_client

    return len(kms_client(url).describe_custom_key_stores()["CustomKeyStores"])


def _create_store(url: str, name: str) -> None:
    from tests.helpers.clients import kms_client

    kms_client(url).create_custom_key_store(
        CustomKeyStoreName=name,
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyConnectivity="VPC_ENDPOINT_SERVICE",
        XksProxyUriEndpoint="https://xks.example.test",
        XksProxyUriPath="/kms/xks/v1",
        XksProxyVpcEndpointServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
        XksProxyAuthenticationCredential={
            "AccessKeyId": "ABCDEFGHIJKLMNOPQRSTUVWX",
            "RawSecretAccessKey": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
        },
    )


VPC_CONFIG = """
[[vpc_endpoint_services]]
name = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
owner = "000000000000"
private_dns_name = "xks.example.test"
address = "127.0.0.1:9"
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_reset_yes_starts_empty(tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    from tests.helpers.server import start_cks_server

    database_url = request.getfixturevalue("fresh_postgres") if kind == "postgres" else None
    data = tmp_path / "data"
    first = start_cks_server(tmp_path, VPC_CONFIG, database_url=database_url, data_dir=data)
    try:
        _create_store(first.url, "kept until the reset")
        assert _store_count(first.url) == 1
    finally:
        first.stop()
    key = (data / "master.key").read_bytes()
    again = start_cks_server(
        tmp_path,
        VPC_CONFIG,
        database_url=database_url,
        data_dir=data,
        extra_args=("--reset", "--yes"),
    )
    try:
        assert _store_count(again.url) == 0
    finally:
        again.stop()
    assert (data / "master.key").read_bytes() != key  # a new master key
    assert "cks serve: reset: deleted" in again.log()
    if kind == "postgres":
        assert "table custom_key_stores" in again.log()
    else:
        assert str(data / "cks.sqlite3") in again.log()
    assert (data / "cks-test.toml").exists()  # the folder's other files stay


def test_reset_is_refused_while_a_server_runs_on_the_data_dir(tmp_path: Path) -> None:
    """A reset under a running server would delete the files it writes to: what it then
    acknowledged would be lost. It is refused until that server stops."""
    from tests.helpers.server import start_cks_server

    data = tmp_path / "data"
    running = start_cks_server(tmp_path, VPC_CONFIG, data_dir=data)
    try:
        _create_store(running.url, "kept: the reset is refused")
        result = serve("--reset", "--yes", "--data-dir", str(data), "--port", "1")
        assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
        assert f"another cks serve is running on {data}: stop it before --reset" in result.stderr
        assert _store_count(running.url) == 1
    finally:
        running.stop()
    again = start_cks_server(tmp_path, VPC_CONFIG, data_dir=data, extra_args=("--reset", "--yes"))
    try:
        assert _store_count(again.url) == 0  # once it stopped, the reset goes ahead
    finally:
        again.stop()


def test_reset_without_yes_and_without_a_terminal_deletes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "master.key").write_text("keep me")
    result = serve("--reset", "--data-dir", str(data), "--port", "1")
    assert result.returncode == 2
    assert "add --yes to confirm" in result.stderr
    assert (data / "master.key").read_text() == "keep me"


@pytest.mark.parametrize("pinned", [False, True])
def test_one_worker_per_usable_core_by_default(tmp_path: Path, pinned: bool) -> None:
    import os
    import shutil

    from tests.helpers.proxies import wait_for
    from tests.helpers.server import free_port

    prefix: list[str] = []
    expected = len(os.sched_getaffinity(0))
    if pinned:
        taskset = shutil.which("taskset")
        assert taskset, "taskset (util-linux) is needed"
        prefix, expected = [taskset, "-c", "0"], 1
    port = free_port()
    args = [*prefix, sys.executable, "-m", "kmscks", "serve", "--port", str(port)]
    args += ["--data-dir", str(tmp_path / "data")]
    server = ServerProcess(port, tmp_path, tmp_path / "server.log", args).start()
    try:
        plural = "s" if expected > 1 else ""
        assert f"{expected} worker{plural}," in server.log()
        wait_for(lambda: server.log().count("Spawning worker-") == expected)
        assert server.log().count("Spawning worker-") == expected
    finally:
        server.stop()


def test_reset_asks_on_a_terminal_and_no_keeps_the_data(tmp_path: Path) -> None:
    import os
    import pty

    data = tmp_path / "data"
    data.mkdir()
    (data / "master.key").write_text("keep me")
    pid, fd = pty.fork()
    if pid == 0:  # the child: cks serve on a terminal
        os.execv(
            sys.executable,
            [sys.executable, "-m", "kmscks", "serve", "--reset", "--data-dir", str(data)],
        )
    output = b""
    while b"Continue? [y/N]" not in output:
        output += os.read(fd, 1024)
    assert str(data / "master.key").encode() in output  # it says what it would delete
    os.write(fd, b"n\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the terminal closed: the child exited
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 2
    assert b"reset cancelled; nothing was deleted" in output
    assert (data / "master.key").read_text() == "keep me"


def test_a_body_refused_by_the_limits_also_names_the_server(server: ServerProcess) -> None:
    import http.client

    import kmscks

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("POST", "/")
        connection.putheader("Content-Length", str(64 * 1024 * 1024))  # claimed, never sent
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 413
        assert answer.getheader("Server") == f"cks/{kmscks.__version__}"
    finally:
        connection.close()
