"""HTTPS endpoints (the default endpoint is https://kms.<region>.amazonaws.com): certificate
verification, --ca-bundle / AWS_CA_BUNDLE and --no-verify-ssl, against a TLS stub on 127.0.0.1.
Compared with aws except for the OpenSSL source line in messages and urllib3's warning text."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Runners, as_cks, base_env
from tests.cli.stub_kms import StubKMS

D = "describe-custom-key-stores"


@pytest.fixture
def tls_stub(tmp_path: Path) -> Iterator[tuple[StubKMS, Path]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    stub = StubKMS(context)
    yield stub, tmp_path / "ca.pem"
    stub.stop()


_SSL_SOURCE_LINE = re.compile(rb"\(_ssl\.c:\d+\)")


def test_tls_matches_aws(runners: Runners, cli_home: Path, tls_stub: tuple[StubKMS, Path]) -> None:
    stub, ca = tls_stub
    query = ("--query", "CustomKeyStores[0].CustomKeyStoreId", "--max-items", "1")
    env = base_env(cli_home, AWS_MAX_ATTEMPTS="1")
    for args, extra_env in (
        ([D, "--endpoint-url", stub.url, *query], {}),
        ([D, "--endpoint-url", stub.url, *query, "--ca-bundle", str(ca)], {}),
        ([D, "--endpoint-url", stub.url, *query], {"AWS_CA_BUNDLE": str(ca)}),
    ):
        aws = as_cks(runners.aws(["kms", *args], {**env, **extra_env}))
        cks = runners.cks(["kms", *args], {**env, **extra_env})
        assert (aws.stdout, _SSL_SOURCE_LINE.sub(b"", aws.stderr), aws.rc) == (
            cks.stdout,
            _SSL_SOURCE_LINE.sub(b"", cks.stderr),
            cks.rc,
        )
    unverified = runners.cks(["kms", D, "--endpoint-url", stub.url, *query, "--no-verify-ssl"], env)
    assert unverified.rc == 0 and unverified.stdout == b'"cks-1234567890abcdef0"\n'
    assert b"InsecureRequestWarning: Unverified HTTPS request" in unverified.stderr
