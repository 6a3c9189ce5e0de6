"""HTTP(S)_PROXY and NO_PROXY, compared with aws through a forward proxy on 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kmscks.cli.proxies import masked
from tests.cli.conftest import Result, Runners, as_cks, base_env, describe_difference
from tests.cli.forward_proxy import ForwardProxy
from tests.cli.stub_kms import StubKMS

D = "describe-custom-key-stores"
QUERY = ("--max-items", "1", "--query", "CustomKeyStores[0].CustomKeyStoreId")


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy()
    yield proxy
    proxy.close()


@pytest.fixture
def tls_stub(tmp_path: Path) -> Iterator[tuple[StubKMS, Path]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    stub = StubKMS(context)
    yield stub, tmp_path / "ca.pem"
    stub.stop()


def test_proxies_match_aws(
    runners: Runners,
    cli_home: Path,
    stub_kms: StubKMS,
    tls_stub: tuple[StubKMS, Path],
    forward_proxy: ForwardProxy,
) -> None:
    tls, ca = tls_stub
    # NO_PROXY="" lifts conftest's guard, which exempts 127.0.0.1 from proxies.
    once = {"AWS_MAX_ATTEMPTS": "1", "NO_PROXY": ""}
    http, https = (
        [D, "--endpoint-url", stub_kms.url, *QUERY],
        [D, "--endpoint-url", tls.url, *QUERY],
    )
    cases = [
        (http, {"HTTP_PROXY": forward_proxy.url, "NO_PROXY": ""}),
        ([*https, "--ca-bundle", str(ca)], {"HTTPS_PROXY": forward_proxy.url, "NO_PROXY": ""}),
        (http, {"HTTP_PROXY": "http://u:p@127.0.0.1:9", **once}),
        (http, {"HTTP_PROXY": "127.0.0.1:9", "NO_PROXY": "127.0.0.1", **once}),
        (https, {"HTTPS_PROXY": "http://127.0.0.1:9", **once}),
    ]
    diffs = []
    for args, env in cases:
        full_env = base_env(cli_home, **env)
        aws = as_cks(runners.aws(["kms", *args], full_env))
        cks = runners.cks(["kms", *args], full_env)
        if aws != cks:
            diffs.append(describe_difference(f"{env} {args}", aws, cks))
    assert not diffs, "".join(diffs)
    # Both CLIs went through the proxy for the first two cases.
    assert sum(line.startswith("POST http://127.0.0.1") for line in forward_proxy.seen) == 2
    assert sum(line.startswith("CONNECT 127.0.0.1") for line in forward_proxy.seen) == 2


def test_proxy_credentials(
    cks: Callable[..., Result], stub_kms: StubKMS, forward_proxy: ForwardProxy
) -> None:
    url = forward_proxy.url.replace("http://", "http://user%40x:p%3Ass@")
    result = cks([D, "--endpoint-url", stub_kms.url, *QUERY], HTTP_PROXY=url, NO_PROXY="")
    assert result.rc == 0
    assert forward_proxy.authorizations == ["Basic dXNlckB4OnA6c3M="]  # user@x:p:ss


def test_masked_proxy_urls_keep_botocores_quirk() -> None:
    assert masked("http://u:p@127.0.0.1:9") == "htt***://***:p@127.0.0.1:9"
    assert masked("http://alice:secret@proxy:3128") == "http://***:***@proxy:3128"
    assert masked("http://proxy:3128") == "http://proxy:3128"
