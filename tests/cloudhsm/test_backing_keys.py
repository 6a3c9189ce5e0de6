"""Backing keys in simulated CloudHSM clusters through the KMS connector, on SQLite and
PostgreSQL: cryptography, every cluster condition and its exact error (contract §3.4, §7.3),
sealed material, lineage through backups, and deletion seen by another process."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmscks.cloudhsm.keys import format_handle
from kmscks.errors import ServiceError
from kmscks.store.sql import SqliteStore, SqlStore
from tests.cloudhsm.rig import ACCOUNT, REGION, Rig, key_arn, new_master_key
from tests.helpers.counting import count_calls

OpenDb = Callable[[], SqlStore]
COMMUNICATE = "KMS cannot communicate with your CloudHSM cluster"
AAD = b"header" + bytes(48)
BAD_CIPHERTEXT = ("InvalidCiphertextException", "")


def rig_on(open_db: OpenDb, master_key: bytes | None = None) -> Rig:
    return Rig(open_db(), master_key or new_master_key())


def raised(call: Callable[..., object], *args: object) -> tuple[str, str]:
    """(code, message) of the ServiceError `call(*args)` raises."""
    with pytest.raises(ServiceError) as info:
        call(*args)
    return info.value.code, info.value.message


def encrypt(rig: Rig, cluster_id: str, arn: str, plaintext: bytes = b"secret") -> object:
    return rig.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, plaintext, AAD)


def test_keys_encrypt_and_decrypt_in_the_cluster(open_db: OpenDb) -> None:
    rig = rig_on(open_db)
    cluster_id = rig.build()
    arn = key_arn()
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    iv, tag, ciphertext = rig.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, b"plain text", AAD)
    assert (len(iv), len(tag), len(ciphertext)) == (12, 16, 10)
    again = rig.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, b"plain text", AAD)
    assert again[0] != iv  # a fresh IV per encryption
    plaintext = rig.kms.decrypt(ACCOUNT, REGION, cluster_id, arn, iv, tag, ciphertext, AAD)
    assert plaintext == b"plain text"
    # GCM failures: other AAD, a flipped ciphertext bit, another key, a truncated tag.
    other = key_arn(2)
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, other)
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    for arn_used, iv_used, tag_used, body, aad in (
        (arn, iv, tag, ciphertext, AAD[:-1] + b"\x01"),
        (arn, iv, tag, flipped, AAD),
        (other, iv, tag, ciphertext, AAD),
        (arn, iv, tag[:12], ciphertext, AAD),
    ):
        assert (
            raised(
                rig.kms.decrypt, ACCOUNT, REGION, cluster_id, arn_used, iv_used, tag_used, body, aad
            )
            == BAD_CIPHERTEXT
        )
    random = rig.kms.generate_random(ACCOUNT, REGION, cluster_id, 1024)
    assert len(random) == 1024 and random != rig.kms.generate_random(
        ACCOUNT, REGION, cluster_id, 1024
    )


def test_the_material_is_stored_only_sealed(open_db: OpenDb, tmp_path: Path) -> None:
    rig = rig_on(open_db)
    cluster_id = rig.build()
    arn = key_arn()
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    iv, tag, ciphertext = rig.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, b"known", AAD)
    rows = rig.store._execute(
        "SELECT cluster_id, key_handle, label, owner, material_sealed FROM cloudhsm_keys"
    ).fetchall()
    assert len(rows) == 1 and rows[0][3] == "kmsuser" and rows[0][4].startswith("v1:")
    sealed = rows[0][4]
    material = base64.b64decode(rig.sealer.open(sealed, f"cloudhsm-key:{arn}", "material"))
    # The unsealed material is the key the cluster used.
    assert AESGCM(material).decrypt(iv, ciphertext + tag, AAD) == b"known"
    forms = [material, material.hex().encode(), base64.b64encode(material)]
    if isinstance(rig.store, SqliteStore):
        database = b"".join(
            path.read_bytes()
            for path in tmp_path.iterdir()
            if path.name.startswith("cks.sqlite3")  # the file, its WAL and shared memory
        )
    else:
        database = "\n".join(
            str(row) for row in rig.store._execute("SELECT * FROM cloudhsm_keys").fetchall()
        ).encode()
        database += repr(rows).encode()
    assert sealed.encode() in database or not isinstance(rig.store, SqliteStore)
    for form in forms:
        assert form not in database
    # The sealed value belongs to its label: under another key's label it does not open.
    with pytest.raises(InvalidTag):
        rig.sealer.open(sealed, f"cloudhsm-key:{key_arn(2)}", "material")
    # Another master key cannot use the cluster's keys (a server misconfiguration: a 500).
    stranger = Rig(open_db(), new_master_key())
    with pytest.raises(InvalidTag):
        encrypt(stranger, cluster_id, arn)


def test_create_needs_two_active_hsms_in_different_zones(open_db: OpenDb) -> None:
    rig = rig_on(open_db)
    expected = (
        "CloudHsmClusterInvalidConfigurationException",
        "The CloudHSM cluster {} must contain at least two active HSMs in different"
        " Availability Zones.",
    )
    for zones in (("a",), ("a", "a")):
        cluster_id = rig.build(zones=zones)
        code, message = raised(rig.kms.create_backing_key, ACCOUNT, REGION, cluster_id, key_arn())
        assert (code, message) == (expected[0], expected[1].format(cluster_id))
        # One active HSM is enough for cryptography, so the cluster is reachable.
        assert len(rig.kms.generate_random(ACCOUNT, REGION, cluster_id, 8)) == 8
    cluster_id = rig.build()
    rig.delete_hsms(cluster_id)
    code, message = raised(rig.kms.create_backing_key, ACCOUNT, REGION, cluster_id, key_arn())
    assert (code, message) == (expected[0], expected[1].format(cluster_id))
    rig.control.delete_cluster(rig.owner, cluster_id)
    code, message = raised(rig.kms.create_backing_key, ACCOUNT, REGION, cluster_id, key_arn())
    assert (code, message) == (expected[0], expected[1].format(cluster_id))


def test_create_in_a_cluster_kms_cannot_reach(open_db: OpenDb) -> None:
    rig = rig_on(open_db)
    for operation in ("block_network", "break_security_group", "delete_kms_user"):
        cluster_id = rig.build()
        rig.admin_call(operation, ClusterId=cluster_id)
        created = raised(rig.kms.create_backing_key, ACCOUNT, REGION, cluster_id, key_arn())
        if operation == "break_security_group":  # a configuration requirement of CreateKey
            assert created == (
                "CloudHsmClusterInvalidConfigurationException",
                f"The security group of the CloudHSM cluster {cluster_id} must allow TCP"
                " traffic on ports 2223-2225.",
            )
        else:
            assert created == ("KMSInternalException", COMMUNICATE)
        assert raised(rig.kms.generate_random, ACCOUNT, REGION, cluster_id, 8) == (
            "KMSInternalException",
            COMMUNICATE,
        )
        assert rig.cluster_keys.list_keys(cluster_id) == []  # nothing was created


def test_cryptography_in_a_cluster_kms_cannot_reach(open_db: OpenDb) -> None:
    rig = rig_on(open_db)
    arn = key_arn()
    unreachable = ("KMSInvalidStateException", COMMUNICATE)
    for operation in ("block_network", "break_security_group", "delete_kms_user"):
        cluster_id = rig.build()
        rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
        iv, tag, body = rig.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, b"x", AAD)
        rig.admin_call(operation, ClusterId=cluster_id)
        assert raised(encrypt, rig, cluster_id, arn) == unreachable
        assert (
            raised(rig.kms.decrypt, ACCOUNT, REGION, cluster_id, arn, iv, tag, body, AAD)
            == unreachable
        )
    # No active HSM, then the cluster deleted.
    cluster_id = rig.build()
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    rig.delete_hsms(cluster_id)
    assert raised(encrypt, rig, cluster_id, arn) == unreachable
    rig.control.delete_cluster(rig.owner, cluster_id)
    assert raised(encrypt, rig, cluster_id, arn) == unreachable
    # A cluster that never existed, or that belongs to another account.
    assert raised(encrypt, rig, "cluster-aaaaaaaaaaa", arn) == unreachable
    other = rig.build()
    rig.kms.create_backing_key(ACCOUNT, REGION, other, arn)
    with pytest.raises(ServiceError) as info:
        rig.kms.encrypt("111122223333", REGION, other, arn, b"x", AAD)
    assert (info.value.code, info.value.message) == unreachable
    # Unblocking brings the key back.
    cluster_id = rig.build()
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    rig.admin_call("block_network", ClusterId=cluster_id)
    assert raised(encrypt, rig, cluster_id, arn) == unreachable
    rig.admin_call("unblock_network", ClusterId=cluster_id)
    assert len(rig.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, b"x", AAD)) == 3


def test_a_missing_backing_key(open_db: OpenDb) -> None:
    rig = rig_on(open_db)
    cluster_id = rig.build()
    arn = key_arn()
    expected = (
        "KMSInvalidStateException",
        f"The key material for {arn} is not available in CloudHSM cluster {cluster_id}.",
    )
    assert raised(encrypt, rig, cluster_id, arn) == expected
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    iv, tag, body = rig.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, b"x", AAD)
    rig.admin_call("delete_key", ClusterId=cluster_id, Label=arn)
    assert raised(encrypt, rig, cluster_id, arn) == expected
    assert raised(rig.kms.decrypt, ACCOUNT, REGION, cluster_id, arn, iv, tag, body, AAD) == expected


def test_session_exhaustion(open_db: OpenDb) -> None:
    rig = rig_on(open_db)
    cluster_id = rig.build()
    arn = key_arn()
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    iv, tag, body = rig.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, b"x", AAD)
    rig.admin_call("exhaust_sessions", ClusterId=cluster_id)
    calls: list[Callable[[], object]] = [
        lambda: rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, key_arn(2)),
        lambda: encrypt(rig, cluster_id, arn),
        lambda: rig.kms.decrypt(ACCOUNT, REGION, cluster_id, arn, iv, tag, body, AAD),
        lambda: rig.kms.generate_random(ACCOUNT, REGION, cluster_id, 8),
    ]
    for call in calls:
        code, message = raised(call)
        assert code == "KMSInternalException"
        assert message == (
            f"The CloudHSM cluster {cluster_id} has no free PKCS#11 sessions for KMS."
            " Retry the request."
        )
    outcome = rig.kms.delete_backing_key(ACCOUNT, REGION, cluster_id, arn)
    assert outcome.startswith("orphaned:") and "PKCS#11" in outcome
    rig.admin_call("restore_sessions", ClusterId=cluster_id)
    assert rig.kms.decrypt(ACCOUNT, REGION, cluster_id, arn, iv, tag, body, AAD) == b"x"


def test_delete_backing_key_is_best_effort_and_says_what_happened(open_db: OpenDb) -> None:
    rig = rig_on(open_db)
    cluster_id = rig.build()
    arn = key_arn()
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    rig.admin_call("block_network", ClusterId=cluster_id)
    assert rig.kms.delete_backing_key(ACCOUNT, REGION, cluster_id, arn) == (
        f"orphaned: the backing key stays in CloudHSM cluster {cluster_id}: {COMMUNICATE}"
    )
    assert [row.label for row in rig.cluster_keys.list_keys(cluster_id)] == [arn]
    rig.admin_call("unblock_network", ClusterId=cluster_id)
    handle = rig.cluster_keys.list_keys(cluster_id)[0].key_handle
    assert rig.kms.delete_backing_key(ACCOUNT, REGION, cluster_id, arn) == (
        f"deleted: backing key {format_handle(handle)} labelled {arn}"
        f" deleted from CloudHSM cluster {cluster_id}"
    )
    assert rig.cluster_keys.list_keys(cluster_id) == []
    assert rig.kms.delete_backing_key(ACCOUNT, REGION, cluster_id, arn) == (
        f"absent: CloudHSM cluster {cluster_id} holds no key labelled {arn}"
    )
    # The label is free again; a new key under it is new material with a new handle.
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    assert rig.cluster_keys.list_keys(cluster_id)[0].key_handle == handle + 1
    # While it lives, the label is taken.
    assert raised(rig.kms.create_backing_key, ACCOUNT, REGION, cluster_id, arn) == (
        "KMSInternalException",
        f"The CloudHSM cluster {cluster_id} already holds a key labelled {arn}.",
    )


def test_a_key_deleted_by_another_process_fails_at_once(open_db: OpenDb) -> None:
    master_key = new_master_key()
    first, second = rig_on(open_db, master_key), rig_on(open_db, master_key)
    cluster_id = first.build()
    arn = key_arn()
    first.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    iv, tag, body = first.kms.encrypt(ACCOUNT, REGION, cluster_id, arn, b"x", AAD)  # cached
    # The other process decrypts with the same material (the database is shared).
    assert second.kms.decrypt(ACCOUNT, REGION, cluster_id, arn, iv, tag, body, AAD) == b"x"
    second.admin_call("delete_key", ClusterId=cluster_id, Label=arn)
    assert (
        raised(first.kms.decrypt, ACCOUNT, REGION, cluster_id, arn, iv, tag, body, AAD)[0]
        == "KMSInvalidStateException"
    )
    # A new key under the same label is other material: the cached object is not reused.
    second.kms.create_backing_key(ACCOUNT, REGION, cluster_id, arn)
    assert raised(first.kms.decrypt, ACCOUNT, REGION, cluster_id, arn, iv, tag, body, AAD) == (
        "InvalidCiphertextException",
        "",
    )
    second.admin_call("block_network", ClusterId=cluster_id)
    assert raised(encrypt, first, cluster_id, arn)[1] == COMMUNICATE


def test_the_cache_is_bounded_and_not_the_source_of_truth(open_db: OpenDb) -> None:
    rig = Rig(open_db(), new_master_key(), cache_size=2)
    cluster_id = rig.build()
    sealed = {}
    for index in range(1, 5):
        rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, key_arn(index))
        sealed[index] = rig.kms.encrypt(ACCOUNT, REGION, cluster_id, key_arn(index), b"x", AAD)
    assert len(rig.cluster_keys.aeads) == 2
    for index, (iv, tag, body) in sealed.items():
        arn = key_arn(index)
        assert rig.kms.decrypt(ACCOUNT, REGION, cluster_id, arn, iv, tag, body, AAD) == b"x"
    assert len(rig.cluster_keys.aeads) == 2


def test_restores_hold_the_keys_of_their_backup(open_db: OpenDb) -> None:
    rig = rig_on(open_db)
    cluster_id = rig.build()
    before_keys = rig.backups(cluster_id)[-1]  # taken when the kmsuser was created
    first, second = key_arn(1), key_arn(2)
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, first)
    sealed = rig.kms.encrypt(ACCOUNT, REGION, cluster_id, first, b"kept", AAD)
    rig.add_hsm(cluster_id, "c")  # a change of HSMs takes a backup
    with_first = rig.backups(cluster_id)[-1]
    assert with_first != before_keys
    rig.kms.create_backing_key(ACCOUNT, REGION, cluster_id, second)
    rig.admin_call("delete_key", ClusterId=cluster_id, Label=first)  # after the backup

    restored = rig.restore(with_first)
    handles = {row.label: row.key_handle for row in rig.cluster_keys.list_keys(cluster_id)}
    assert [row.label for row in rig.cluster_keys.list_keys(restored)] == [first]
    # Same material, so the restored cluster decrypts what the original encrypted.
    assert rig.kms.decrypt(ACCOUNT, REGION, restored, first, *sealed, AAD) == b"kept"
    assert raised(encrypt, rig, restored, second) == (
        "KMSInvalidStateException",
        f"The key material for {second} is not available in CloudHSM cluster {restored}.",
    )
    # New keys in the restored cluster take handles after the restored ones, and stay its own.
    rig.kms.create_backing_key(ACCOUNT, REGION, restored, key_arn(3))
    restored_handles = [row.key_handle for row in rig.cluster_keys.list_keys(restored)]
    assert restored_handles[1] > restored_handles[0]
    assert key_arn(3) not in handles

    older = rig.restore(before_keys)
    assert rig.cluster_keys.list_keys(older) == []
    assert raised(encrypt, rig, older, first)[0] == "KMSInvalidStateException"
    # A restore of a restore: the restored cluster's own backup holds its keys then.
    rig.add_hsm(restored, "c")
    again = rig.restore(rig.backups(restored)[-1])
    assert [row.label for row in rig.cluster_keys.list_keys(again)] == [first, key_arn(3)]


def test_the_cluster_read_is_kept_until_any_process_writes(open_db: OpenDb) -> None:
    """What a crypto call reads of its cluster is kept between calls on SQLite (each rig here is
    like another server process), and read again as soon as any of them changes the database;
    PostgreSQL reads every time."""
    master_key = new_master_key()
    first, second = Rig(open_db(), master_key), Rig(open_db(), master_key)
    cluster_id = first.build()
    tables = first.control.tables
    reads = count_calls(tables._store, "_execute")
    access = tables.cluster_access(ACCOUNT, REGION, cluster_id)[0]
    assert access is not None and access.network_ok
    assert tables.cluster_access(ACCOUNT, REGION, cluster_id)[0] == access
    assert reads() == (1 if tables._store.dialect == "sqlite" else 2)
    second.admin_call("block_network", ClusterId=cluster_id)
    blocked = tables.cluster_access(ACCOUNT, REGION, cluster_id)[0]
    assert blocked is not None and not blocked.network_ok
