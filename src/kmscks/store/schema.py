"""The versioned database schema: an ordered list of migrations, applied once each.

store layer. A database records its version in `schema_version`; opening it applies the
migrations it has not seen, in one transaction, so an upgrade keeps the data. New migrations
are appended, never edited.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    # Statements per dialect ("sqlite", "postgres").
    statements: dict[str, tuple[str, ...]]


def _stores_table(seq_column: str, real: str) -> str:
    return f"""
CREATE TABLE custom_key_stores (
    seq {seq_column},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    store_type TEXT NOT NULL,
    connection_state TEXT NOT NULL,
    creation_date {real} NOT NULL,
    connection_error_code TEXT,
    cloudhsm_cluster_id TEXT,
    trust_anchor_certificate TEXT,
    key_store_password_sealed TEXT,
    xks_connectivity TEXT,
    xks_access_key_id TEXT,
    xks_secret_sealed TEXT,
    xks_uri_endpoint TEXT,
    xks_uri_path TEXT,
    xks_vpc_service_name TEXT,
    xks_vpc_service_owner TEXT,
    transition_due {real},
    transition_generation INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until {real},
    key_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, region, name)
)"""


_COMMON_INDEXES = (
    # Keyset pagination: a page costs the same whatever the table's size.
    "CREATE INDEX custom_key_stores_page ON custom_key_stores (account_id, region, seq)",
    # The transition worker looks only at stores with a pending transition.
    "CREATE INDEX custom_key_stores_due ON custom_key_stores (transition_due)"
    " WHERE transition_due IS NOT NULL",
    # XKS uniqueness rules look endpoints and endpoint services up across accounts.
    "CREATE INDEX custom_key_stores_xks_endpoint ON custom_key_stores"
    " (region, lower(xks_uri_endpoint)) WHERE xks_uri_endpoint IS NOT NULL",
    "CREATE INDEX custom_key_stores_vpc_service ON custom_key_stores"
    " (region, xks_vpc_service_name) WHERE xks_vpc_service_name IS NOT NULL",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "custom key stores",
        {
            "sqlite": (
                _stores_table("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
                *_COMMON_INDEXES,
            ),
            "postgres": (
                _stores_table("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
                *_COMMON_INDEXES,
            ),
        },
    ),
)


def _cloudhsm_tables(seq_column: str, real: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE cloudhsm_clusters (
    seq {seq_column},
    cluster_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    hsm_type TEXT NOT NULL,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    state_since {real} NOT NULL,
    create_timestamp {real} NOT NULL,
    subnet_mapping TEXT NOT NULL,
    vpc_id TEXT NOT NULL,
    security_group TEXT NOT NULL,
    security_group_ok INTEGER NOT NULL DEFAULT 1,
    network_ok INTEGER NOT NULL DEFAULT 1,
    source_backup_id TEXT,
    lineage TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    csr_pem TEXT NOT NULL,
    cluster_certificate TEXT,
    trust_anchor TEXT,
    kmsuser_salt TEXT,
    kmsuser_hash TEXT,
    kmsuser_locked INTEGER NOT NULL DEFAULT 0,
    kmsuser_logged_in INTEGER NOT NULL DEFAULT 0,
    kmsuser_failures INTEGER NOT NULL DEFAULT 0
)""",
        "CREATE INDEX cloudhsm_clusters_owner ON cloudhsm_clusters (account_id, region, seq)",
        f"""
CREATE TABLE cloudhsm_hsms (
    seq {seq_column},
    hsm_id TEXT NOT NULL UNIQUE,
    cluster_id TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    subnet_id TEXT NOT NULL,
    eni_id TEXT NOT NULL,
    eni_ip TEXT NOT NULL,
    hsm_type TEXT NOT NULL,
    state TEXT NOT NULL,
    state_since {real} NOT NULL
)""",
        "CREATE INDEX cloudhsm_hsms_cluster ON cloudhsm_hsms (cluster_id, seq)",
        f"""
CREATE TABLE cloudhsm_backups (
    seq {seq_column},
    backup_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    cluster_id TEXT NOT NULL,
    lineage TEXT NOT NULL,
    hsm_type TEXT NOT NULL,
    mode TEXT NOT NULL,
    create_timestamp {real} NOT NULL,
    private_key_pem TEXT NOT NULL,
    csr_pem TEXT NOT NULL,
    cluster_certificate TEXT,
    trust_anchor TEXT,
    kmsuser_salt TEXT,
    kmsuser_hash TEXT
)""",
        "CREATE INDEX cloudhsm_backups_owner ON cloudhsm_backups (account_id, region, seq)",
        """
CREATE TABLE cloudhsm_subnets (
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    subnet_id TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    used_addresses INTEGER NOT NULL DEFAULT 0,
    exhausted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, region, subnet_id)
)""",
    )


MIGRATIONS += (
    Migration(
        2,
        "simulated CloudHSM clusters, HSMs, backups and subnet state",
        {
            "sqlite": _cloudhsm_tables("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
            "postgres": _cloudhsm_tables("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
        },
    ),
)


def _cloudhsm_keys(seq_column: str, real: str, integer: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE cloudhsm_keys (
    seq {seq_column},
    cluster_id TEXT NOT NULL,
    key_handle {integer} NOT NULL,
    label TEXT NOT NULL,
    owner TEXT NOT NULL,
    material_sealed TEXT NOT NULL,
    created_at {real} NOT NULL,
    deleted_at {real}
)""",
        # A handle is never reused in a cluster, deleted keys included (backups still hold them).
        "CREATE UNIQUE INDEX cloudhsm_keys_handle ON cloudhsm_keys (cluster_id, key_handle)",
        # KMS finds a backing key by its label (the KMS key ARN) on every cryptographic call.
        "CREATE UNIQUE INDEX cloudhsm_keys_label ON cloudhsm_keys (cluster_id, label)"
        " WHERE deleted_at IS NULL",
        "ALTER TABLE cloudhsm_clusters ADD COLUMN sessions_exhausted INTEGER NOT NULL DEFAULT 0",
    )


MIGRATIONS += (
    Migration(
        3,
        "keys held by simulated CloudHSM clusters; PKCS#11 session exhaustion",
        {
            "sqlite": _cloudhsm_keys("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL", "INTEGER"),
            "postgres": _cloudhsm_keys("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION", "BIGINT"),
        },
    ),
)


def _key_tables(seq_column: str, real: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE kms_keys (
    seq {seq_column},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    origin TEXT NOT NULL,
    custom_key_store_id TEXT,
    xks_key_id TEXT,
    description TEXT NOT NULL,
    requested_state TEXT NOT NULL,
    deletion_date {real},
    creation_date {real} NOT NULL,
    material_sealed TEXT,
    policy TEXT NOT NULL
)""",
        # ListKeys: keyset pages in creation order; the quota counts the same range.
        "CREATE INDEX kms_keys_page ON kms_keys (account_id, region, seq)",
        # The keys of a store: CustomKeyStoreHasCMKsException, XksKeyId uniqueness (a backstop
        # for the check made inside the region-serialized mutation).
        "CREATE INDEX kms_keys_store ON kms_keys (custom_key_store_id)"
        " WHERE custom_key_store_id IS NOT NULL",
        "CREATE UNIQUE INDEX kms_keys_xks_key ON kms_keys (custom_key_store_id, xks_key_id)"
        " WHERE xks_key_id IS NOT NULL",
        # The deletion job looks only at keys with a scheduled deletion.
        "CREATE INDEX kms_keys_deletion ON kms_keys (deletion_date)"
        " WHERE deletion_date IS NOT NULL",
        f"""
CREATE TABLE kms_aliases (
    seq {seq_column},
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    creation_date {real} NOT NULL,
    last_updated_date {real} NOT NULL,
    UNIQUE (account_id, region, name)
)""",
        "CREATE INDEX kms_aliases_page ON kms_aliases (account_id, region, seq)",
        "CREATE INDEX kms_aliases_key ON kms_aliases (key_id)",
        """
CREATE TABLE kms_key_tags (
    key_id TEXT NOT NULL,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (key_id, tag_key)
)""",
    )


MIGRATIONS += (
    Migration(
        4,
        "KMS keys, aliases and key tags",
        {
            "sqlite": _key_tables("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
            "postgres": _key_tables("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
        },
    ),
)


def _connection_attempts_table(seq_column: str, real: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE connection_attempts (
    seq {seq_column},
    store_id TEXT NOT NULL,
    attempted_at {real} NOT NULL,
    connection_state TEXT NOT NULL,
    error_code TEXT,
    cause TEXT NOT NULL,
    proxy_latency_ms {real},
    proxy_health TEXT
)""",
        # The last attempts of one store, newest first.
        "CREATE INDEX connection_attempts_store ON connection_attempts (store_id, seq)",
    )


MIGRATIONS += (
    Migration(
        5,
        "the last connection attempts of each custom key store (explain-connection-error)",
        {
            "sqlite": _connection_attempts_table("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
            "postgres": _connection_attempts_table("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
        },
    ),
)


def _rate_buckets_table(create: str) -> tuple[str, ...]:
    # One token bucket per quota scope, shared by every process on the database. Losing it is
    # harmless (a lost bucket is a full one): PostgreSQL keeps it out of its write-ahead log.
    return (
        f"""
{create} rate_buckets (
    scope TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
)""",
    )


MIGRATIONS += (
    Migration(
        6,
        "the request quotas' token buckets, shared by every server process",
        {
            "sqlite": _rate_buckets_table("CREATE TABLE"),
            "postgres": _rate_buckets_table("CREATE UNLOGGED TABLE"),
        },
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
