"""The `crypto` section of run_all.py: Encrypt and Decrypt through the three kinds of KMS key.

A benchmark, not a test: it measures and prints, nothing asserts. It drives `cks serve` and the
bundled `cks xks-proxy` only through their wire APIs (signed KMS, CloudHSM v2 and admin
requests; SigV4 `kms-xks-proxy` requests to the proxy), like a user would; it imports
harness.py and, from kmscks, only the certificate helper and the signer.

What is compared, round by round (docs/benchmarks.md, "Cryptographic operations"):
  - Encrypt and Decrypt with a key in an external key store, against the same proxy called
    directly with the same kind of request: the proxy's own req/s is the ceiling of that path.
  - Encrypt with a CloudHSM key and with an AWS_KMS key, against the trivial endpoint answering
    the bytes of an Encrypt answer to the same signed request.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import ssl
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import harness
from harness import LoadResult, Service, cks_service, running, trivial_service
from kmscks.xksproxy import certs

if TYPE_CHECKING:
    from run_all import Bench

XKS_HOST = "xks.bench.test"
PREFIX = "/bench"
XKS_KEY = "bench-key"
PROXY_AKID = "BENCHXKSPROXYACCESSKEY23"  # 20-30 of [A-Z2-7], as KMS requires
PROXY_SECRET = base64.b64encode(os.urandom(33)).decode()  # 44 characters
HSM_PASSWORD = "benchPswd1"
PLAINTEXT = os.urandom(32)  # a data key's size
AAD = b"cks bench aad"
META = {
    "awsPrincipalArn": "arn:aws:iam::000000000000:root",
    "kmsKeyArn": "arn:aws:kms:us-east-1:000000000000:key/bench",
    "kmsRequestId": "bench",
}


def say(text: str = "") -> None:
    print(text, flush=True)


def proxy_service(folder: Path) -> Service:
    """`cks xks-proxy` over TLS with one software key, its certificate valid for XKS_HOST."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = certs.new_ca("cks bench CA")
    server = certs.issue(ca, XKS_HOST, dns_names=(XKS_HOST,), ip_addresses=("127.0.0.1",))
    (folder / "ca.pem").write_bytes(ca.cert_pem())
    (folder / "server.pem").write_bytes(server.cert_pem())
    (folder / "server-key.pem").write_bytes(server.key_pem())
    (folder / "proxy.toml").write_text(
        '[server]\ntls_cert = "server.pem"\ntls_key = "server-key.pem"\n\n'
        '[software]\ndata_dir = "data"\n\n'
        f'[[stores]]\nuri_path_prefix = "{PREFIX}"\n'
        f'credentials = [{{ access_key_id = "{PROXY_AKID}",'
        f' secret_access_key = "{PROXY_SECRET}" }}]\n\n'
        f'[[stores.keys]]\nid = "{XKS_KEY}"\nbackend = "software"\n'
    )
    port = harness.free_port()
    args = [harness.PYTHON, "-m", "kmscks", "xks-proxy", "--config", str(folder / "proxy.toml")]
    args += ["--port", str(port), "--log-level", "WARNING"]
    return Service("xks-proxy", args, port, log_path=folder / "proxy.log", tls=True)


def cks_config(base: str, proxy: Service, proxy_dir: Path) -> str:
    return (
        base
        + "transition_delay_ms = 0\n\n"
        + f'[xks]\nresolve = {{ "{XKS_HOST}" = "127.0.0.1:{proxy.port}" }}\n'
        + f'ca_bundle = "{proxy_dir / "ca.pem"}"\n'
    )


# -- set-up through the wire API ---------------------------------------------------------------


def call(port: int, operation: str, **params: Any) -> dict[str, Any]:
    body, headers = harness.signed_request(port, operation, params)
    status, answer = harness.post(port, body, headers)
    if status != 200:
        raise RuntimeError(f"{operation}: {status} {answer[:300]!r}")
    return dict(json.loads(answer or b"{}"))


def _connected(port: int, store_id: str, timeout: float = 60) -> None:
    call(port, "ConnectCustomKeyStore", CustomKeyStoreId=store_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = call(port, "DescribeCustomKeyStores", CustomKeyStoreId=store_id)
        state = entry["CustomKeyStores"][0]["ConnectionState"]
        if state == "CONNECTED":
            return
        if state == "FAILED":
            raise RuntimeError(f"{store_id} FAILED: {entry}")
        time.sleep(0.05)
    raise RuntimeError(f"{store_id} did not connect in {timeout} s")


def create_keys(cks: Service, folder: Path) -> dict[str, str]:
    """An XKS key, a CloudHSM key and an AWS_KMS key; their ARNs by kind."""
    xks_store = call(
        cks.port,
        "CreateCustomKeyStore",
        CustomKeyStoreName="bench-xks",
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyConnectivity="PUBLIC_ENDPOINT",
        XksProxyUriEndpoint=f"https://{XKS_HOST}",
        XksProxyUriPath=f"{PREFIX}/kms/xks/v1",
        XksProxyAuthenticationCredential={
            "AccessKeyId": PROXY_AKID,
            "RawSecretAccessKey": PROXY_SECRET,
        },
    )["CustomKeyStoreId"]
    _connected(cks.port, xks_store)
    keys = {
        "xks": call(
            cks.port,
            "CreateKey",
            Origin="EXTERNAL_KEY_STORE",
            CustomKeyStoreId=xks_store,
            XksKeyId=XKS_KEY,
        )["KeyMetadata"]["Arn"]
    }
    # A cluster as a user builds one: `cks cloudhsm quickstart` (CloudHSM v2 + admin API).
    anchor = folder / "customerCA.crt"
    quickstart = [harness.PYTHON, "-m", "kmscks", "cloudhsm", "--endpoint-url", cks.url]
    quickstart += ["--region", "us-east-1", "quickstart", "--password", HSM_PASSWORD]
    quickstart += ["--trust-anchor-file", str(anchor)]
    credentials = {"AWS_ACCESS_KEY_ID": harness.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": harness.SECRET}
    done = subprocess.run(
        quickstart,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **credentials},
    )
    if done.returncode:
        raise RuntimeError(f"cks cloudhsm quickstart: {done.returncode} {done.stderr[-500:]}")
    cluster_id = done.stdout.split("ClusterId:", 1)[1].split()[0]
    hsm_store = call(
        cks.port,
        "CreateCustomKeyStore",
        CustomKeyStoreName="bench-hsm",
        CloudHsmClusterId=cluster_id,
        TrustAnchorCertificate=anchor.read_text(),
        KeyStorePassword=HSM_PASSWORD,
    )["CustomKeyStoreId"]
    _connected(cks.port, hsm_store)
    keys["cloudhsm"] = call(
        cks.port, "CreateKey", Origin="AWS_CLOUDHSM", CustomKeyStoreId=hsm_store
    )["KeyMetadata"]["Arn"]
    keys["aws_kms"] = call(cks.port, "CreateKey")["KeyMetadata"]["Arn"]
    return keys


@dataclass(frozen=True)
class KeyedSetup:
    """What `keyed_setup` made: the running proxy, the cks config and the keys' ARNs by kind."""

    proxy: Service
    config: str
    config_path: Path  # the file the set-up server ran with (the same text as `config`)
    keys: dict[str, str]
    xks_blob: str  # a ciphertext of the XKS key, for Decrypt
    port: int  # the set-up server's; a signed request names its host and port


@contextmanager
def keyed_setup(folder: Path) -> Iterator[KeyedSetup]:
    """The section's keys in a new data directory under `folder`, made through a set-up `cks
    serve` (a fixed master key) that is stopped again; the proxy runs for the block."""
    (folder / "data").mkdir()
    base = '[server]\nmaster_key = "' + "A" * 43 + '="\n'
    proxy_dir = folder / "proxy"
    with running(proxy_service(proxy_dir)) as proxy:
        config = cks_config(base, proxy, proxy_dir)
        setup = cks_service("setup", folder, config=config)
        with running(setup, "/_cks/health") as cks:
            keys = create_keys(cks, folder)
            blob = call(cks.port, "Encrypt", **encrypt_params(keys["xks"]))["CiphertextBlob"]
        config_path = Path(setup.args[setup.args.index("--config") + 1])
        yield KeyedSetup(proxy, config, config_path, keys, blob, setup.port)


# -- requests ----------------------------------------------------------------------------------


def kms_script(folder: Path, cks: Service, operation: str, params: dict[str, Any]) -> Path:
    """A wrk script holding one signed KMS request, after checking that it succeeds."""
    call(cks.port, operation, **params)
    body, headers = harness.signed_request(cks.port, operation, params)
    return harness.wrk_script(folder, body, headers)


def encrypt_params(arn: str) -> dict[str, Any]:
    return {"KeyId": arn, "Plaintext": base64.b64encode(PLAINTEXT).decode()}


def proxy_path(operation: str) -> str:
    return f"{PREFIX}/kms/xks/v1/keys/{XKS_KEY}/{operation}"


def _proxy_request(proxy: Service, operation: str, fields: dict[str, Any]) -> tuple[bytes, dict]:
    body = json.dumps(
        {
            "requestMetadata": {**META, "kmsOperation": operation.capitalize()},
            "additionalAuthenticatedData": base64.b64encode(AAD).decode(),
            "encryptionAlgorithm": "AES_GCM",
            **fields,
        }
    ).encode()
    headers = harness.signed_post(
        proxy.port,
        proxy_path(operation),
        body,
        {"Content-Type": "application/json"},
        service="kms-xks-proxy",
        access_key_id=PROXY_AKID,
        secret=PROXY_SECRET,
    )
    return body, headers


def _proxy_call(proxy: Service, operation: str, fields: dict[str, Any]) -> dict[str, Any]:
    body, headers = _proxy_request(proxy, operation, fields)
    conn = http.client.HTTPSConnection(
        "127.0.0.1", proxy.port, context=ssl._create_unverified_context(), timeout=10
    )
    try:
        conn.request("POST", proxy_path(operation), body, headers)
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"proxy {operation}: {response.status} {answer[:300]!r}")
    return dict(json.loads(answer))


def proxy_script(folder: Path, proxy: Service, operation: str) -> Path:
    """A wrk script holding one signed encrypt or decrypt request to the proxy itself."""
    fields: dict[str, Any] = {"plaintext": base64.b64encode(PLAINTEXT).decode()}
    if operation == "decrypt":
        fields = _proxy_call(proxy, "encrypt", fields)  # ciphertext, IV, tag (and metadata)
    _proxy_call(proxy, operation, fields)  # it answers 200 before it is measured
    body, headers = _proxy_request(proxy, operation, fields)
    return harness.wrk_script(folder, body, headers)


# -- the section -------------------------------------------------------------------------------


def run(bench: Bench) -> None:
    args = bench.args
    say(
        f"\n## crypto: Encrypt/Decrypt per key kind; XKS at {args.xks_connections} connections"
        f" vs the proxy itself, CloudHSM and AWS_KMS at {args.connections} vs the trivial endpoint"
    )
    rows: list[LoadResult] = []
    proxy_dir = bench.folder / "crypto-proxy"
    with (
        running(proxy_service(proxy_dir)) as proxy,
        bench.database("sqlite", "crypto") as (
            _,
            folder,
        ),
    ):
        config = cks_config(bench.base_config, proxy, proxy_dir)
        with running(cks_service("crypto-setup", folder, config=config), "/_cks/health") as cks:
            keys = create_keys(cks, folder)
            encrypt_answer = harness.post(
                cks.port,
                *harness.signed_request(cks.port, "Encrypt", encrypt_params(keys["aws_kms"])),
            )[1]
            blob = call(cks.port, "Encrypt", **encrypt_params(keys["xks"]))["CiphertextBlob"]
        say(f"  keys: {keys}")

        def load(label: str, service: Service, script: Path, **options: Any) -> LoadResult:
            result = harness.load(
                label,
                service,
                script,
                connections=options.pop("connections", args.connections),
                threads=args.wrk_threads,
                seconds=args.seconds,
                warmup=args.warmup,
                **options,
            )
            harness.print_result(result)
            return result

        def direct() -> list[LoadResult]:
            return [
                load(
                    f"proxy {operation}",
                    proxy,
                    proxy_script(bench.folder, proxy, operation),
                    path=proxy_path(operation),
                    connections=args.xks_connections,
                )
                for operation in ("encrypt", "decrypt")
            ]

        def through_cks(workers: int, round_number: int) -> list[LoadResult]:
            service = cks_service(f"crypto-{workers}w", folder, workers=workers, config=config)
            with running(service, "/_cks/health") as started:
                variants: list[Callable[[], LoadResult]] = [
                    lambda: load(
                        f"xks encrypt {workers}",
                        started,
                        kms_script(bench.folder, started, "Encrypt", encrypt_params(keys["xks"])),
                        connections=args.xks_connections,
                        others=(proxy,),
                    ),
                    lambda: load(
                        f"xks decrypt {workers}",
                        started,
                        kms_script(bench.folder, started, "Decrypt", {"CiphertextBlob": blob}),
                        connections=args.xks_connections,
                        others=(proxy,),
                    ),
                    lambda: load(
                        f"cloudhsm encrypt {workers}",
                        started,
                        kms_script(
                            bench.folder, started, "Encrypt", encrypt_params(keys["cloudhsm"])
                        ),
                    ),
                    lambda: load(
                        f"aws_kms encrypt {workers}",
                        started,
                        kms_script(
                            bench.folder, started, "Encrypt", encrypt_params(keys["aws_kms"])
                        ),
                    ),
                ]
                turn = round_number % len(variants)
                return [variant() for variant in variants[turn:] + variants[:turn]]

        def trivial(workers: int) -> list[LoadResult]:
            service = trivial_service(
                f"crypto-trivial-{workers}w", bench.folder, encrypt_answer, workers=workers
            )
            with running(service) as started:
                body, headers = harness.signed_request(
                    started.port, "Encrypt", encrypt_params(keys["aws_kms"])
                )
                script = harness.wrk_script(bench.folder, body, headers)
                return [load(f"trivial {workers}", started, script)]

        for round_number in range(args.rounds):
            say(f"round {round_number + 1}")
            blocks: list[Callable[[], list[LoadResult]]] = [direct]
            for workers in (1, 2):
                blocks.append(functools.partial(through_cks, workers, round_number))
                blocks.append(functools.partial(trivial, workers))
            turn = round_number % len(blocks)
            for block in blocks[turn:] + blocks[:turn]:
                rows += block()
    bench.results["crypto"] = [row.row() for row in rows]
    summarize(bench, rows)


def _best_trivial_ratios(rows: list[LoadResult], label: str) -> list[float]:
    """req/s of `label` over the faster trivial endpoint (1 or 2 workers), round by round."""
    mine = [r.rps for r in rows if r.label == label]
    one = [r.rps for r in rows if r.label == "trivial 1"]
    two = [r.rps for r in rows if r.label == "trivial 2"]
    return [m / max(a, b) for m, a, b in zip(mine, one, two, strict=True)]


def summarize(bench: Bench, rows: list[LoadResult]) -> None:
    say(
        "\nmedian of the rounds (by req/s); ratio per round, then the median: XKS to the proxy"
        " called directly, CloudHSM and AWS_KMS to the trivial endpoint (same workers)"
    )
    references = {
        "xks encrypt": "proxy encrypt",
        "xks decrypt": "proxy decrypt",
        "cloudhsm encrypt": "trivial",
        "aws_kms encrypt": "trivial",
    }
    summary: dict[str, Any] = {}
    for label, row in harness.medians(rows).items():
        kind, _, workers = label.rpartition(" ")
        reference = references.get(kind)
        if reference is None:
            reference, workers = label, ""
        else:
            reference = f"{reference} {workers}" if reference == "trivial" else reference
        ratios = harness.round_ratios(rows, label, reference)
        p99s = [r.p99_ms for r in rows if r.label == label]
        # The stricter reference too: the faster trivial endpoint of each round, whatever its
        # worker count (on 2 cores shared with wrk, 2 trivial workers serve fewer than 1).
        best = _best_trivial_ratios(rows, label) if reference.startswith("trivial") else []
        summary[label] = {
            **row.row(),
            "ratio": statistics.median(ratios),
            "ratio_to_faster_trivial": statistics.median(best) if best else None,
            "p99_ms_median_of_rounds": statistics.median(p99s),
        }
        say(
            f"  {label:<20} {row.rps:>8.0f} req/s  p50 {row.p50_ms:6.2f}"
            f"  p99 {statistics.median(p99s):6.2f} ms (rounds: {harness.join(p99s, '.1f')})"
            f"  {row.cpu_us_per_request:4.0f} us CPU/req"
            + (
                f" + proxy {row.others_cpu_us_per_request:.0f} us"
                if row.others_cpu_us_per_request
                else ""
            )
            + f"  ratio {statistics.median(ratios):5.2f} to {reference}"
            + f" (rounds: {harness.join(ratios, '.2f')})"
            + (
                f", {statistics.median(best):.2f} to the faster trivial"
                f" (rounds: {harness.join(best, '.2f')})"
                if best
                else ""
            )
        )
    bench.results["crypto_summary"] = summary
