"""The XKS key client against the bundled proxy, and its keep-alive pool with TLS resumption.

The bundled `cks xks-proxy` (software backend) runs as its own process, once with TLS and once
plain; the client reaches it through `[xks] resolve` like the server does. The pool's corner
cases (a proxy that drops a kept-alive connection, stalls, goes away or changes certificate)
use a scripted keep-alive server on 127.0.0.1 that counts connections and requests.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kmscks.config import XksSettings
from kmscks.connectors.xks import XksConnector
from kmscks.connectors.xks_key_errors import KeyOutcome, XksKeyError
from kmscks.connectors.xks_keys import ExternalKeyMetadata, ProxyCiphertext, RequestMetadata
from kmscks.connectors.xks_transport import ProxySettings
from tests.helpers.proxies import Tls, json_body, untrusted_context
from tests.helpers.scripted_server import Script, ScriptedServer, http_response
from tests.xksproxy.xks_helpers import (
    AKID,
    API,
    REGION,
    SECRET,
    ProxyProcess,
    make_tls,
    start_proxy,
    store_toml,
)

T = TypeVar("T")
# These tests are not about deadlines: a loaded 2-core machine must not turn them into timeouts.
LOADED_MACHINE_TIMEOUT_MS = 5000
PREFIX = "/software"
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PRINCIPAL = "arn:aws:iam::111122223333:user/alice"
ENCRYPT = RequestMetadata(PRINCIPAL, "Encrypt", "req-e", KEY_ARN)
DECRYPT = RequestMetadata(PRINCIPAL, "Decrypt", "req-d", KEY_ARN)
CREATE = RequestMetadata(PRINCIPAL, "CreateKey", "req-c")
INNER = os.urandom(4124)  # the largest inner layer: 4096 bytes of plaintext + 28
AAD = b"CKS\x01\x03" + os.urandom(49)  # the shape of §9.2's 54-byte AAD


@dataclass
class Proxies:
    tls: ProxyProcess
    plain: ProxyProcess
    ca: Path


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxies]:
    folder = tmp_path_factory.mktemp("xks-keys")
    tls_files = make_tls(folder / "tls")
    stores = store_toml(PREFIX, "software")
    tls = start_proxy(
        folder / "tls",
        f'[server]\nregion = "{REGION}"\ntls_cert = "server.pem"\ntls_key = "server-key.pem"\n'
        + stores,
    )
    plain = start_proxy(folder / "plain", f'[server]\nregion = "{REGION}"\n' + stores)
    try:
        yield Proxies(tls, plain, tls_files.ca_path)
    finally:
        tls.stop()
        plain.stop()


def _connector(proxies: Proxies) -> XksConnector:
    settings = XksSettings(
        resolve={
            "localhost": f"127.0.0.1:{proxies.tls.port}",
            "plain.test": f"127.0.0.1:{proxies.plain.port}",
        },
        ca_bundle=proxies.ca,
        allow_http=frozenset({"plain.test"}),
        timeout_ms=LOADED_MACHINE_TIMEOUT_MS,
    )
    return XksConnector(settings, ())


def _proxy(host: str, prefix: str = PREFIX, secret: str = SECRET) -> ProxySettings:
    return ProxySettings("PUBLIC_ENDPOINT", f"https://{host}", prefix + API, AKID, secret)


def _run(connector: XksConnector, work: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        try:
            return await work()
        finally:
            await connector.transport.pool.close()

    return asyncio.run(run())


def _raises(connector: XksConnector, work: Callable[[], Awaitable[Any]]) -> XksKeyError:
    with pytest.raises(XksKeyError) as raised:
        _run(connector, work)
    return raised.value


HOSTS = ["localhost", "plain.test"]  # TLS, plain HTTP


@pytest.mark.parametrize("host", HOSTS)
def test_metadata_of_a_usable_key(proxies: Proxies, host: str) -> None:
    connector = _connector(proxies)
    keys = connector.keys
    metadata = _run(connector, lambda: keys.get_key_metadata(_proxy(host), REGION, "foo", CREATE))
    assert metadata == ExternalKeyMetadata("AES_256", ("ENCRYPT", "DECRYPT"), "ENABLED")


@pytest.mark.parametrize(
    ("key_id", "code", "message"),
    [
        (
            "disabled",
            "XksKeyInvalidConfigurationException",
            "The status of the external key must be ENABLED. The status of specified external"
            " key is DISABLED.",
        ),
        (
            "enc-only",
            "XksKeyInvalidConfigurationException",
            "The key usage of the external key must include ENCRYPT and DECRYPT. The key use of"
            " specified external key is [ENCRYPT].",
        ),
        (
            "no-such-key",
            "XksKeyNotFoundException",
            "The external key store proxy rejected the request because it could not find the"
            " external key.",
        ),
    ],
)
def test_metadata_of_unusable_keys_fails_create_key(
    proxies: Proxies, key_id: str, code: str, message: str
) -> None:
    connector = _connector(proxies)
    keys = connector.keys
    error = _raises(
        connector, lambda: keys.get_key_metadata(_proxy("localhost"), REGION, key_id, CREATE)
    )
    service_error = error.to_service_error(for_create=True)
    assert (service_error.code, service_error.message) == (code, message)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize(
    ("key_id", "metadata"), [("foo", b""), ("with-metadata", b"key_version=1")]
)
def test_encrypt_then_decrypt_round_trips(
    proxies: Proxies, host: str, key_id: str, metadata: bytes
) -> None:
    connector = _connector(proxies)
    keys, proxy = connector.keys, _proxy(host)

    async def work() -> tuple[ProxyCiphertext, bytes]:
        sealed = await keys.encrypt(proxy, REGION, key_id, INNER, AAD, ENCRYPT)
        return sealed, await keys.decrypt(proxy, REGION, key_id, sealed, AAD, DECRYPT)

    sealed, opened = _run(connector, work)
    assert opened == INNER
    assert len(sealed.ciphertext) == len(INNER) and sealed.ciphertext != INNER
    assert len(sealed.iv) == 12 and len(sealed.tag) == 16
    # The client verified the proxy's integrity value, or encrypt would have raised.
    assert sealed.ciphertext_metadata == metadata


INVALID_CIPHERTEXT = (
    "The external key store proxy rejected the request because the specified ciphertext or"
    " additional authenticated data is corrupted, missing, or otherwise invalid."
)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda blob, aad: (ProxyCiphertext(blob.iv, blob.tag, blob.ciphertext), aad),
        lambda blob, aad: (blob, aad[:-1] + bytes([aad[-1] ^ 1])),
        lambda blob, aad: (blob, b""),
        lambda blob, aad: (
            ProxyCiphertext(blob.iv, blob.tag, blob.ciphertext, b"key_version=2"),
            aad,
        ),
        lambda blob, aad: (
            ProxyCiphertext(blob.iv, bytes(16), blob.ciphertext, blob.ciphertext_metadata),
            aad,
        ),
    ],
    ids=["metadata-dropped", "aad-changed", "aad-dropped", "metadata-changed", "tag-zeroed"],
)
def test_the_proxy_binds_metadata_and_aad(
    proxies: Proxies, tamper: Callable[[ProxyCiphertext, bytes], tuple[ProxyCiphertext, bytes]]
) -> None:
    connector = _connector(proxies)
    keys, proxy = connector.keys, _proxy("localhost")

    async def work() -> bytes:
        sealed = await keys.encrypt(proxy, REGION, "with-metadata", INNER, AAD, ENCRYPT)
        blob, aad = tamper(sealed, AAD)
        return await keys.decrypt(proxy, REGION, "with-metadata", blob, aad, DECRYPT)

    error = _raises(connector, work)
    assert error.outcome is KeyOutcome.INVALID_CIPHERTEXT
    service_error = error.to_service_error(for_create=False)
    assert (service_error.code, service_error.message) == (
        "KMSInvalidStateException",
        INVALID_CIPHERTEXT,
    )


@pytest.mark.parametrize(
    ("proxy", "key_id", "outcome"),
    [
        # An encrypt-only key cannot do the self-check decrypt that the integrity value needs.
        (_proxy("localhost"), "enc-only", KeyOutcome.KEY_USAGE),
        (_proxy("localhost", prefix="/elsewhere"), "foo", KeyOutcome.INVALID_URI_PATH),
        (_proxy("localhost", secret=SECRET[::-1]), "foo", KeyOutcome.AUTHENTICATION_FAILED),
    ],
)
def test_the_proxy_refusals_reach_the_service(
    proxies: Proxies, proxy: ProxySettings, key_id: str, outcome: KeyOutcome
) -> None:
    connector = _connector(proxies)
    keys = connector.keys
    error = _raises(connector, lambda: keys.encrypt(proxy, REGION, key_id, INNER, AAD, ENCRYPT))
    assert error.outcome is outcome


def test_calls_share_a_kept_alive_connection_and_new_ones_resume_tls(proxies: Proxies) -> None:
    connector = _connector(proxies)
    keys, proxy, pool = connector.keys, _proxy("localhost"), connector.transport.pool

    async def work() -> None:
        for _ in range(5):
            await keys.encrypt(proxy, REGION, "foo", INNER, AAD, ENCRYPT)
        assert (pool.stats.opened, pool.stats.reused, pool.stats.tls_resumed) == (1, 4, 0)
        await pool.close()  # the next call needs a new connection: it resumes the session
        await keys.encrypt(proxy, REGION, "foo", INNER, AAD, ENCRYPT)
        assert (pool.stats.opened, pool.stats.tls_resumed) == (2, 1)

    _run(connector, work)


def test_resumption_can_be_turned_off(proxies: Proxies) -> None:
    connector = _connector(proxies)
    keys, proxy, pool = connector.keys, _proxy("localhost"), connector.transport.pool
    pool.max_idle, pool.resume_tls = 0, False

    async def work() -> None:
        for _ in range(3):
            await keys.encrypt(proxy, REGION, "foo", INNER, AAD, ENCRYPT)

    _run(connector, work)
    assert (pool.stats.opened, pool.stats.reused, pool.stats.tls_resumed) == (3, 0, 0)


def test_the_response_reports_reuse_and_tls_session_resumption(proxies: Proxies) -> None:
    connector = _connector(proxies)
    transport = connector.transport
    proxy = _proxy("localhost")
    target = transport.target(proxy)
    assert target is not None
    body = json_body({"requestMetadata": CREATE.wire()})
    path = f"{PREFIX}{API}/keys/foo/metadata"

    async def work() -> list[tuple[bool, bool]]:
        seen = []
        for fresh in (True, False, True):
            if fresh:
                await transport.pool.close()
            response = await transport.post(proxy, REGION, target, path, body, pooled=True)
            assert response.status == 200
            seen.append((response.reused_connection, response.tls_resumed))
        return seen

    # fresh (full handshake), reused (no handshake), fresh again (resumed session)
    assert _run(connector, work) == [(False, False), (True, False), (False, True)]


def test_concurrent_calls_get_connections_of_their_own(proxies: Proxies) -> None:
    connector = _connector(proxies)
    keys, proxy, pool = connector.keys, _proxy("localhost"), connector.transport.pool

    async def round_trip(index: int) -> bytes:
        plaintext = INNER[:100] + bytes([index])
        sealed = await keys.encrypt(proxy, REGION, "foo", plaintext, AAD, ENCRYPT)
        assert await keys.decrypt(proxy, REGION, "foo", sealed, AAD, DECRYPT) == plaintext
        return plaintext

    async def work() -> None:
        for _ in range(3):
            results = await asyncio.gather(*(round_trip(i) for i in range(8)))
            assert len(set(results)) == 8
        assert 1 <= pool.stats.opened <= 8 * 3
        assert pool.stats.reused >= 8 * 3 * 2 - pool.stats.opened

    _run(connector, work)


# -- the pool's corner cases, on a scripted keep-alive server ---------------------------------

OK_METADATA = json_body({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"],
                         "keyStatus": "ENABLED"})  # fmt: skip


@pytest.fixture(params=["plain", "tls"])
def scripted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, ...]]:
    tls = Tls.create(tmp_path)
    context = tls.server_context("scripted.test") if request.param == "tls" else None
    server = ScriptedServer(Script(http_response(200, OK_METADATA)), context)
    host = "scripted.test" if context is not None else "plain.test"
    settings = XksSettings(
        resolve={host: server.address},
        ca_bundle=tls.ca_path,
        allow_http=frozenset({"plain.test"}),
        timeout_ms=LOADED_MACHINE_TIMEOUT_MS,
    )
    try:
        yield server, XksConnector(settings, ()), _proxy(host), tls
    finally:
        server.close()


def _metadata(connector: XksConnector, proxy: ProxySettings) -> Awaitable[ExternalKeyMetadata]:
    return connector.keys.get_key_metadata(proxy, REGION, "foo", CREATE)


def test_one_connection_serves_many_calls(scripted: tuple[Any, ...]) -> None:
    server, connector, proxy, _ = scripted

    async def work() -> None:
        for _ in range(6):
            await _metadata(connector, proxy)

    _run(connector, work)
    assert (server.connections, len(server.requests)) == (1, 6)


def test_a_connection_the_proxy_dropped_is_replaced_once(scripted: tuple[Any, ...]) -> None:
    server, connector, proxy, _ = scripted
    server.script = Script(http_response(200, OK_METADATA), answers_per_connection=1)

    async def work() -> None:
        await _metadata(connector, proxy)
        # The kept connection reads this request and closes unanswered: sent again, fresh.
        await _metadata(connector, proxy)

    _run(connector, work)
    assert (server.connections, len(server.requests)) == (2, 3)
    assert connector.transport.pool.stats.stale == 1


def test_a_stalled_pooled_connection_times_out_and_is_tried_once_more(
    scripted: tuple[Any, ...],
) -> None:
    server, loose, proxy, _ = scripted
    connector = XksConnector(replace(loose.transport.settings, timeout_ms=250), ())

    async def work() -> None:
        await _metadata(connector, proxy)
        server.script = Script(b"", stall_after=0)
        await _metadata(connector, proxy)

    error = _raises(connector, work)
    assert error.outcome is KeyOutcome.TIMED_OUT
    # One request answered, then the stalled one on the kept connection and its one retry.
    assert (server.connections, len(server.requests)) == (2, 3)


def test_a_gone_proxy_is_unreachable_even_with_a_kept_connection(
    scripted: tuple[Any, ...],
) -> None:
    server, connector, proxy, _ = scripted

    async def work() -> None:
        await _metadata(connector, proxy)
        server.close()
        await _metadata(connector, proxy)

    error = _raises(connector, work)
    assert error.outcome is KeyOutcome.NOT_REACHABLE
    assert server.address in error.cause


def test_a_new_connection_checks_the_certificate_again(tmp_path: Path) -> None:
    tls = Tls.create(tmp_path)
    server = ScriptedServer(
        Script(http_response(200, OK_METADATA), answers_per_connection=1),
        tls.server_context("scripted.test"),
    )
    settings = XksSettings(
        resolve={"scripted.test": server.address},
        ca_bundle=tls.ca_path,
        timeout_ms=LOADED_MACHINE_TIMEOUT_MS,
    )
    connector, proxy = XksConnector(settings, ()), _proxy("scripted.test")

    async def work() -> None:
        await _metadata(connector, proxy)
        # The proxy now presents a certificate nobody trusts, and drops the kept connection.
        server._tls = untrusted_context("scripted.test")
        await _metadata(connector, proxy)

    try:
        error = _raises(connector, work)
    finally:
        server.close()
    assert error.outcome is KeyOutcome.INVALID_TLS
    assert connector.transport.pool.stats.stale == 1


def test_idle_connections_expire(scripted: tuple[Any, ...]) -> None:
    server, connector, proxy, _ = scripted
    connector.transport.pool.idle_timeout = 0.0

    async def work() -> None:
        await _metadata(connector, proxy)
        await asyncio.sleep(0.01)
        await _metadata(connector, proxy)

    _run(connector, work)
    assert server.connections == 2
    assert connector.transport.pool.stats.stale == 0


def test_the_idle_cap_bounds_kept_connections(scripted: tuple[Any, ...]) -> None:
    server, connector, proxy, _ = scripted
    pool = connector.transport.pool
    pool.max_idle = 2

    async def work() -> None:
        await asyncio.gather(*(_metadata(connector, proxy) for _ in range(5)))
        assert [len(per_target) for per_target in pool._idle.values()] == [2]

    _run(connector, work)
    assert server.connections == 5
