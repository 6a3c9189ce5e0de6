"""Rules of KMS keys: the key state, CreateKey's parameter combinations, policy and tag checks,
the messages every key operation shares, and KeyMetadata.

service layer. KeyState is derived in exactly one place (`key_state`, contract §6.1); every
operation and the crypto operations read it from there. Shape rules (lengths, patterns, enums)
are the validator's and are never checked here. Must not import kmscks.api.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from kmscks.errors import ServiceError
from kmscks.service.states import State
from kmscks.store.keys import KeyRecord
from kmscks.store.records import StoreRecord

AWS_KMS = "AWS_KMS"
AWS_CLOUDHSM = "AWS_CLOUDHSM"
EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"
CUSTOM_ORIGINS = (AWS_CLOUDHSM, EXTERNAL_KEY_STORE)

ENABLED = "Enabled"
DISABLED = "Disabled"
PENDING_DELETION = "PendingDeletion"
UNAVAILABLE = "Unavailable"

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"

KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A multi-Region key's id. cks makes none, so a well-formed one names a key that does not
# exist (KMS's answer), not a malformed identifier.
MRK_KEY_ID = re.compile(r"mrk-[0-9a-f]{32}")


def key_state(key: KeyRecord, store: StoreRecord | None) -> str:
    """KeyState (contract §6.1): a scheduled deletion wins, then the store's connection."""
    if key.deletion_date is not None:
        return PENDING_DELETION
    if key.custom_key_store_id is not None and (
        store is None or store.connection_state != State.CONNECTED
    ):
        return UNAVAILABLE
    return key.requested_state


# -- messages --------------------------------------------------------------------------------


def key_not_found(arn: str) -> ServiceError:
    return ServiceError("NotFoundException", f"Key '{arn}' does not exist")


def alias_not_found(alias_arn: str) -> ServiceError:
    return ServiceError("NotFoundException", f"Alias {alias_arn} is not found.")


def invalid_key_id(value: str) -> ServiceError:
    return ServiceError("NotFoundException", f"Invalid keyId {value}")


def pending_deletion(key: KeyRecord) -> ServiceError:
    return ServiceError("KMSInvalidStateException", f"{key.arn} is pending deletion.")


def not_pending_deletion(key: KeyRecord) -> ServiceError:
    return ServiceError("KMSInvalidStateException", f"{key.arn} is not pending deletion.")


def unsupported(message: str) -> ServiceError:
    return ServiceError("UnsupportedOperationException", message)


def origin_not_valid(key: KeyRecord) -> ServiceError:
    """Rotation, import, key pairs, replication on a custom-store key (contract §5.6, §5.7)."""
    return unsupported(f"{key.arn} origin is {key.origin} which is not valid for this operation.")


# -- CreateKey -------------------------------------------------------------------------------


def check_create_combinations(params: dict[str, Any]) -> str:
    """Step 2 of CreateKey (contract §3.2): the Origin, store and key spec combinations.

    Answers the Origin. cks serves symmetric ENCRYPT_DECRYPT keys only, so for AWS_KMS keys
    the same spec rules hold (docs/keys.md).
    """
    origin = params.get("Origin", AWS_KMS)
    custom = origin in CUSTOM_ORIGINS
    if "CustomKeyStoreId" in params and not custom:
        raise unsupported(
            "CustomKeyStoreId is valid only when Origin is AWS_CLOUDHSM or EXTERNAL_KEY_STORE."
        )
    if custom and "CustomKeyStoreId" not in params:
        raise unsupported(f"CustomKeyStoreId is required when Origin is {origin}.")
    if "XksKeyId" in params and origin != EXTERNAL_KEY_STORE:
        raise unsupported("XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.")
    if origin == EXTERNAL_KEY_STORE and "XksKeyId" not in params:
        raise unsupported("XksKeyId is required when Origin is EXTERNAL_KEY_STORE.")
    where = "in a custom key store" if custom else "in cks"
    for member in ("KeySpec", "CustomerMasterKeySpec"):
        if params.get(member, SYMMETRIC_DEFAULT) != SYMMETRIC_DEFAULT:
            raise unsupported(f"{member} must be SYMMETRIC_DEFAULT for a KMS key {where}.")
    if params.get("KeyUsage", ENCRYPT_DECRYPT) != ENCRYPT_DECRYPT:
        raise unsupported(f"KeyUsage must be ENCRYPT_DECRYPT for a KMS key {where}.")
    if params.get("MultiRegion", False):
        if custom:
            raise unsupported("You cannot create a multi-Region key in a custom key store.")
        raise unsupported("cks does not support multi-Region keys.")
    if origin == "EXTERNAL":
        raise unsupported("cks does not support keys with imported key material (Origin EXTERNAL).")
    return str(origin)


def check_policy(policy: str) -> None:
    """The key policy is stored and returned, not enforced; it must be a JSON policy document."""
    try:
        document = json.loads(policy)
    except ValueError:
        raise ServiceError(
            "MalformedPolicyDocumentException", "The key policy is not a valid JSON document."
        )
    if not isinstance(document, dict) or "Statement" not in document:
        raise ServiceError(
            "MalformedPolicyDocumentException",
            "The key policy must be a JSON object with a Statement element.",
        )


def check_tags(tags: list[dict[str, str]]) -> list[tuple[str, str]]:
    """TagResource/CreateKey tags: no reserved `aws:` prefix (any case), each key once.

    The messages are KMS's, which name no tag.
    """
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for tag in tags:
        tag_key, tag_value = tag["TagKey"], tag["TagValue"]
        if tag_key.lower().startswith("aws:"):
            raise ServiceError("TagException", "Tags beginning with aws: are reserved")
        if tag_key in seen:
            raise ServiceError("TagException", "Duplicate tag keys")
        seen.add(tag_key)
        pairs.append((tag_key, tag_value))
    return pairs


def default_policy(account_id: str) -> str:
    """The default key policy KMS gives a key created without one (laid out as KMS does)."""
    document = {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    return json.dumps(document, indent=2, separators=(",", " : "))


# -- KeyMetadata -----------------------------------------------------------------------------


def key_material_id(key: KeyRecord) -> str | None:
    """KMS's identifier of an AWS_KMS key's key material (64 lowercase hex digits), or None.

    KMS names the material of its AWS_KMS symmetric keys (CurrentKeyMaterialId, and the crypto
    answers' KeyMaterialId members) and of no custom-store key (contract §4, §7.1). A key in cks
    has one material for life (no rotation), so its id is derived from the key id alone: stable
    on every process and restart, and it says nothing of the material.
    """
    if key.origin != AWS_KMS:
        return None
    return hashlib.sha256(f"cks key material\0{key.id}".encode()).hexdigest()


def key_metadata(key: KeyRecord, store: StoreRecord | None, state: str) -> dict[str, Any]:
    """KeyMetadata (contract §4); the members real KMS omits for these keys are never sent."""
    metadata: dict[str, Any] = {
        "AWSAccountId": key.account_id,
        "KeyId": key.id,
        "Arn": key.arn,
        "CreationDate": key.creation_date,
        "Enabled": state == ENABLED,
        "Description": key.description,
        "KeyUsage": ENCRYPT_DECRYPT,
        "KeyState": state,
        "Origin": key.origin,
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": SYMMETRIC_DEFAULT,
        "KeySpec": SYMMETRIC_DEFAULT,
        "EncryptionAlgorithms": [SYMMETRIC_DEFAULT],
        "MultiRegion": False,
    }
    if key.deletion_date is not None:
        metadata["DeletionDate"] = key.deletion_date
    if key.custom_key_store_id is not None:
        metadata["CustomKeyStoreId"] = key.custom_key_store_id
    if key.origin == AWS_CLOUDHSM and store is not None and store.cloudhsm_cluster_id:
        # The store's current cluster, also after an Update to a related cluster (§4).
        metadata["CloudHsmClusterId"] = store.cloudhsm_cluster_id
    if key.xks_key_id is not None:
        metadata["XksKeyConfiguration"] = {"Id": key.xks_key_id}
    material_id = key_material_id(key)
    if material_id is not None:
        metadata["CurrentKeyMaterialId"] = material_id
    return metadata
