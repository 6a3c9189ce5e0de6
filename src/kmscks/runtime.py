"""The composition root of `cks serve`: builds one server process from its options.

Wires config, store, connectors, service, transition worker and the api layer together; the
only module that knows every layer. Each granian worker process calls `create_app()`, which
reads the options the parent process put in the environment.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kmscks import logsetup
from kmscks.api.auth import Authenticator
from kmscks.api.handler import Api, RequestHandler
from kmscks.api.model import ServiceModel, load_service_model
from kmscks.api.quota import RequestQuota
from kmscks.api.requestlog import RequestLog
from kmscks.api.rsgi import BodyLimits, RsgiApp
from kmscks.cloudhsm.admin import ADMIN_MODEL, ADMIN_OPERATIONS, CloudHsmAdmin
from kmscks.cloudhsm.api import CLOUDHSM_OPERATIONS, CloudHsmV2
from kmscks.cloudhsm.control import ControlPlane
from kmscks.cloudhsm.keys import ClusterKeys
from kmscks.config import ServerConfig, load_config
from kmscks.connectors.cloudhsm import ClusterChecks
from kmscks.connectors.cloudhsm_keys import CloudHsmKeyConnector
from kmscks.connectors.xks import XksConnector
from kmscks.markers import MarkerCodec
from kmscks.registry import bind
from kmscks.server import die_with_parent
from kmscks.service.crypto import CryptoOperations
from kmscks.service.crypto_backends import ClusterCrypto, ProxyCrypto
from kmscks.service.custom_key_stores import KeyStoreService
from kmscks.service.diagnostics import DIAGNOSTICS_MODEL, DIAGNOSTICS_OPERATIONS, Diagnostics
from kmscks.service.key_deletion import KeyDeletionWorker
from kmscks.service.keys import KeyService
from kmscks.service.secrets import Sealer, derive_key, load_master_key
from kmscks.service.served import KMS_OPERATIONS
from kmscks.service.transitions import TransitionWorker
from kmscks.store.attempts import ConnectionAttempts
from kmscks.store.rates import RateBuckets
from kmscks.store.sql import SqlStore, open_store

OPTIONS_VARIABLE = "CKS_SERVE_OPTIONS"


@dataclass(frozen=True)
class ServeOptions:
    data_dir: str
    database_url: str | None = None
    config_path: str | None = None
    log_level: str = "info"
    log_format: str = "text"

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeOptions:
        return cls(**json.loads(os.environ[OPTIONS_VARIABLE]))


@dataclass
class Process:
    """Everything one server process runs."""

    config: ServerConfig
    store: SqlStore
    service: KeyStoreService
    keys: KeyService
    worker: TransitionWorker
    deletions: KeyDeletionWorker
    handler: RequestHandler
    cloudhsm_keys: CloudHsmKeyConnector  # what the KMS key service calls for CloudHSM keys


def _quotas(
    config: ServerConfig, store: SqlStore
) -> tuple[RequestQuota | None, RequestQuota | None]:
    """The request quota and each custom key store's crypto quota (contract: 1,800/s, all
    accounts together), when configured; both count in the database's shared buckets."""
    if not (config.requests_per_second or config.crypto_requests_per_second):
        return None, None
    buckets = RateBuckets(store)

    def quota(name: str, rate: int) -> RequestQuota | None:
        return RequestQuota(name, rate, buckets) if rate else None

    return (
        quota("request", config.requests_per_second),
        quota("store-crypto", config.crypto_requests_per_second),
    )


def build_process(options: ServeOptions) -> Process:
    config = load_config(Path(options.config_path) if options.config_path else None)
    data_dir = Path(options.data_dir)
    store = open_store(options.database_url, data_dir)
    request_quota, store_quota = _quotas(config, store)
    master_key = load_master_key(config.master_key, data_dir)
    worker_ref: list[TransitionWorker] = []
    sealer = Sealer(master_key)
    control = ControlPlane(store, config.cloudhsm, sealer)
    cluster_keys = ClusterKeys(control)
    cloudhsm_keys = CloudHsmKeyConnector(cluster_keys)
    xks = XksConnector(config.xks, config.vpc_endpoint_services)
    service = KeyStoreService(
        store=store,
        config=config,
        xks=xks,
        clusters=ClusterChecks(control),
        sealer=sealer,
        markers=MarkerCodec(derive_key(master_key, "marker-v1")),
        wake_worker=lambda: worker_ref[0].wake() if worker_ref else None,
    )
    attempts = ConnectionAttempts(store)
    worker = TransitionWorker(
        store, service.finish_transition, config.lease_seconds, attempts=attempts
    )
    worker_ref.append(worker)
    deletions = KeyDeletionWorker(store, cloudhsm_keys.delete_backing_key)
    # One adapter of the XKS key client: CreateKey's GetKeyMetadata and the crypto calls.
    proxy_keys = ProxyCrypto(xks.keys, service.proxy_settings)
    keys = KeyService(
        store=store,
        config=config,
        sealer=sealer,
        markers=MarkerCodec(derive_key(master_key, "key-marker-v1")),
        cloudhsm_keys=cloudhsm_keys,
        external_keys=proxy_keys,
        wake_deletion=deletions.wake,
    )
    crypto = CryptoOperations(
        keys,
        proxy_keys,
        ClusterCrypto(cloudhsm_keys, store.get),
        store_quota=store_quota.take if store_quota else None,
    )
    authenticator = Authenticator(config.credentials, config.max_clock_skew_seconds)
    kms = Api(
        load_service_model("kms"),
        bind(KMS_OPERATIONS, service, keys, crypto),
        internal_error="KMSInternalException",
        quota=request_quota,
    )
    cloudhsm = Api(
        load_service_model("cloudhsmv2"),
        bind(
            CLOUDHSM_OPERATIONS,
            CloudHsmV2(control, MarkerCodec(derive_key(master_key, "cloudhsm-token-v1"))),
        ),
        internal_error="CloudHsmInternalFailureException",
        validation_error="CloudHsmInvalidRequestException",
    )
    admin = Api(
        ServiceModel("cks-cloudhsm-admin", ADMIN_MODEL),
        bind(ADMIN_OPERATIONS, CloudHsmAdmin(control, cluster_keys)),
        internal_error="CloudHsmInternalFailureException",
        validation_error="CloudHsmInvalidRequestException",
    )
    diagnostics = Api(
        ServiceModel("cks-diagnostics", DIAGNOSTICS_MODEL),
        bind(DIAGNOSTICS_OPERATIONS, Diagnostics(store, attempts)),
        internal_error="KMSInternalException",
    )
    handler = RequestHandler([kms, cloudhsm, admin, diagnostics], authenticator, RequestLog())
    return Process(config, store, service, keys, worker, deletions, handler, cloudhsm_keys)


async def _flush_logs_periodically() -> None:
    """The request log is buffered (logsetup.StderrHandler): a quiet server's lines still show."""
    while True:
        await asyncio.sleep(logsetup.StderrHandler.FLUSH_SECONDS)
        logsetup.flush_all()


def create_app() -> RsgiApp:
    """granian's factory: one app per worker process."""
    die_with_parent()
    # Logging is already set up: granian applies the server's log_dictconfig in each worker
    # before it calls this factory (kmscks.logsetup).
    options = ServeOptions.from_env()
    logsetup.skip_unused_record_attributes()
    logsetup.StderrHandler.buffer()
    process = build_process(options)
    tasks: list[asyncio.Task[None]] = []

    def on_start(loop: asyncio.AbstractEventLoop) -> None:
        tasks.append(loop.create_task(process.worker.run()))
        tasks.append(loop.create_task(process.deletions.run()))
        tasks.append(loop.create_task(_flush_logs_periodically()))

    def on_stop() -> None:
        process.worker.stop()
        process.deletions.stop()
        logsetup.flush_all()

    limits = process.config.http_limits
    body_limits = BodyLimits(
        limits.max_request_bytes,
        limits.body_timeout_seconds,
        limits.max_body_buffer_bytes,
        limits.max_header_bytes,
    )
    return RsgiApp(process.handler, on_start, on_stop, body_limits)
