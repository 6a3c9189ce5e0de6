"""Canned answers of the stub KMS endpoint (stub_kms.py) for the operations on KMS keys.

Key lifecycle, cryptography, aliases, policies, tags and grants, shaped like the real service's
answers for keys in custom key stores (../shared/contract/kms-keys-in-custom-key-stores.md):
key ARNs in crypto answers, ids in listings, epoch timestamps with and without fractions, a
multi-line policy, non-ASCII text, and Marker/NextMarker pagination over five keys, five
aliases, five tags and two grants. "Ciphertext" is `ct:` + plaintext, so an encrypt/decrypt
round trip through both CLIs gives the plaintext back. A few key ids select errors:
`missing` (NotFoundException), `disabled` (DisabledException), and any rotation or import
operation answers UnsupportedOperationException, as the service does for custom-store keys.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

ACCOUNT = "111122223333"
REGION = "us-east-1"
KEY_IDS = (
    "1234abcd-12ab-34cd-56ef-1234567890ab",
    "0987dcba-09fe-87dc-65ba-ab0987654321",
    "11112222-3333-4444-5555-666677778888",
    "aaaabbbb-cccc-dddd-eeee-ffff00001111",
    "22223333-4444-5555-6666-777788889999",
)
STORES = ("cks-1234567890abcdef0", "cks-5ebd4ef395a96288e")
ALGORITHMS = ("SYMMETRIC_DEFAULT",)
# Member names as the service spells them in a ValidationException for an enum value.
ENUMS = {
    "EncryptionAlgorithm": (
        "SYMMETRIC_DEFAULT",
        "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256",
        "SM2PKE",
    ),
    "KeySpec": ("AES_256", "AES_128"),
    "KeyUsage": ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"),
    "Origin": ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"),
}
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    },
    indent=2,
)


def arn(key_id: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def key_metadata(index: int) -> dict[str, Any]:
    """Five keys: CloudHSM-backed, XKS-backed (with XksKeyConfiguration), disabled,
    pending deletion (with DeletionDate) and unavailable."""
    key_id = KEY_IDS[index]
    xks = index % 2 == 1
    metadata: dict[str, Any] = {
        "AWSAccountId": ACCOUNT,
        "KeyId": key_id,
        "Arn": arn(key_id),
        "CreationDate": [1709631015.25, 1709631016, 1709631017.5, 1709631018, 1709631019.123456][
            index
        ],
        "Enabled": index in (0, 1),
        "Description": ["hsm key", "clé externe 鍵", "", "going away", "store down"][index],
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": ["Enabled", "Enabled", "Disabled", "PendingDeletion", "Unavailable"][index],
        "Origin": "EXTERNAL_KEY_STORE" if xks else "AWS_CLOUDHSM",
        "CustomKeyStoreId": STORES[index % 2],
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": list(ALGORITHMS),
        "MultiRegion": False,
    }
    if xks:
        metadata["XksKeyConfiguration"] = {"Id": f"external-key-{index}"}
    else:
        metadata["CloudHsmClusterId"] = "cluster-234abcdefABC"
    if index == 3:
        metadata["DeletionDate"] = 1712223015
        metadata["PendingDeletionWindowInDays"] = 30
    return metadata


def aliases() -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = [
        {
            "AliasName": "alias/aws/ebs",
            "AliasArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/ebs",
        }
    ]
    for index, name in enumerate(("hsm", "external", "名前", "old")):
        listed.append(
            {
                "AliasName": f"alias/{name}",
                "AliasArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/{name}",
                "TargetKeyId": KEY_IDS[index],
                "CreationDate": 1709631020 + index,
                "LastUpdatedDate": 1709631030.5 + index,
            }
        )
    return listed


def tags() -> list[dict[str, str]]:
    return [
        {"TagKey": "team", "TagValue": "crypto"},
        {"TagKey": "env", "TagValue": "test"},
        {"TagKey": "owner", "TagValue": "Zoë"},
        {"TagKey": "empty", "TagValue": ""},
        {"TagKey": "cost-center", "TagValue": "42"},
    ]


def grants() -> list[dict[str, Any]]:
    return [
        {
            "KeyId": arn(KEY_IDS[0]),
            "GrantId": "0c237476b39f8bc44e45212e08498fbe3151305030726c0590dd8d3e9f3d6a60",
            "Name": "app",
            "CreationDate": 1709631040,
            "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:role/app",
            "IssuingAccount": f"arn:aws:iam::{ACCOUNT}:root",
            "Operations": ["Encrypt", "Decrypt"],
            "Constraints": {"EncryptionContextSubset": {"purpose": "test", "team": "crypto"}},
        },
        {
            "KeyId": arn(KEY_IDS[0]),
            "GrantId": "f271e8328717f8bde5d03f4981f06a6b3fc18bcae2da12ac38bd9186e7925d11",
            "CreationDate": 1709631041.75,
            "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:role/admin",
            "RetiringPrincipal": f"arn:aws:iam::{ACCOUNT}:role/admin",
            "IssuingAccount": f"arn:aws:iam::{ACCOUNT}:root",
            "Operations": ["GenerateDataKey"],
        },
    ]


Answer = tuple[int, dict[str, Any]]


def _error(name: str, message: str | None = None) -> Answer:
    body: dict[str, Any] = {"__type": name}
    if message is not None:
        body["message"] = message
    return 400, body


def _bad_enum(params: dict[str, Any]) -> Answer | None:
    for member, allowed in ENUMS.items():
        for name in (member, f"Source{member}", f"Destination{member}"):
            if name in params and params[name] not in allowed:
                field = name[0].lower() + name[1:]
                return _error(
                    "ValidationException",
                    f"1 validation error detected: Value '{params[name]}' at '{field}' failed "
                    f"to satisfy constraint: Member must satisfy enum value set: "
                    f"[{', '.join(allowed)}]",
                )
    return None


def _key(params: dict[str, Any], member: str = "KeyId") -> tuple[str | None, Answer | None]:
    """The key id a request names (any of id, ARN or alias), or the error to answer."""
    given = str(params.get(member, KEY_IDS[0]))
    if given == "missing":
        return None, _error("NotFoundException", f"Key '{arn(given)}' does not exist")
    if given == "disabled":
        return None, _error("DisabledException", f"{arn(KEY_IDS[2])} is disabled.")
    for key_id in KEY_IDS:
        if key_id in given:
            return key_id, None
    return KEY_IDS[0], None


def _plaintext(size: int) -> str:
    return base64.b64encode(bytes(index % 256 for index in range(size))).decode()


def _ciphertext(plaintext_b64: str) -> str:
    return base64.b64encode(b"ct:" + base64.b64decode(plaintext_b64)).decode()


def _crypto(operation: str, params: dict[str, Any]) -> Answer:
    key_id, error = _key(params, "DestinationKeyId" if operation == "ReEncrypt" else "KeyId")
    if error is not None:
        return error
    assert key_id is not None
    if params.get("DryRun"):
        return _error("DryRunOperationException", "The request would have succeeded.")
    if operation == "Encrypt":
        return 200, {
            "CiphertextBlob": _ciphertext(params["Plaintext"]),
            "KeyId": arn(key_id),
            "EncryptionAlgorithm": params.get("EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
        }
    if operation in ("Decrypt", "ReEncrypt"):
        blob = base64.b64decode(params.get("CiphertextBlob", ""))
        if not blob.startswith(b"ct:"):
            return _error("InvalidCiphertextException")  # no message, as the real service
        plaintext = base64.b64encode(blob[3:]).decode()
        if operation == "Decrypt":
            return 200, {
                "KeyId": arn(key_id),
                "Plaintext": plaintext,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }
        return 200, {
            "CiphertextBlob": _ciphertext(plaintext),
            "SourceKeyId": arn(KEY_IDS[1]),
            "KeyId": arn(key_id),
            "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }
    size = int(params.get("NumberOfBytes", 16 if params.get("KeySpec") == "AES_128" else 32))
    plaintext = _plaintext(size)
    body = {"CiphertextBlob": _ciphertext(plaintext), "Plaintext": plaintext, "KeyId": arn(key_id)}
    if operation == "GenerateDataKeyWithoutPlaintext":
        del body["Plaintext"]
    return 200, body


def _lifecycle(operation: str, params: dict[str, Any]) -> Answer:
    alias = str(params.get("AliasName", ""))
    if alias == "alias/missing":
        alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"
        return _error("NotFoundException", f"Alias {alias_arn} is not found.")
    if operation == "CreateAlias" and alias in (entry["AliasName"] for entry in aliases()):
        alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"
        return _error(
            "AlreadyExistsException", f"An alias with the name {alias_arn} already exists"
        )
    key_id, error = _key(params, "TargetKeyId" if "TargetKeyId" in params else "KeyId")
    if error is not None:
        return error
    assert key_id is not None
    if operation == "DescribeKey":
        return 200, {"KeyMetadata": key_metadata(KEY_IDS.index(key_id))}
    if operation == "ScheduleKeyDeletion":
        window = params.get("PendingWindowInDays", 30)
        return 200, {
            "KeyId": arn(key_id),
            "DeletionDate": 1709631015 + window * 86400,
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": window,
        }
    if operation == "CancelKeyDeletion":
        return 200, {"KeyId": arn(key_id)}
    if operation == "GetKeyPolicy":
        return 200, {"Policy": POLICY, "PolicyName": params.get("PolicyName", "default")}
    return 200, {}


UNSUPPORTED = (
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "ReplicateKey",
    "UpdatePrimaryRegion",
)
CRYPTO = (
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
)
LIFECYCLE = (
    "DescribeKey",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "UpdateKeyDescription",
    "CreateAlias",
    "UpdateAlias",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "TagResource",
    "UntagResource",
    "CreateGrant",
    "RetireGrant",
    "RevokeGrant",
)
# Paginated listings: result key and the items they page over.
LISTINGS: dict[str, tuple[str, Callable[[], list[Any]]]] = {
    "ListKeys": ("Keys", lambda: [{"KeyId": k, "KeyArn": arn(k)} for k in KEY_IDS]),
    "ListAliases": ("Aliases", aliases),
    "ListResourceTags": ("Tags", tags),
    "ListGrants": ("Grants", grants),
    "ListRetirableGrants": ("Grants", grants),
    "ListKeyPolicies": ("PolicyNames", lambda: ["default"]),
}


def answer(operation: str, params: dict[str, Any]) -> tuple[str, list[Any]] | Answer | None:
    """The answer to a key operation; for a listing, (result key, all items) to page over;
    None for an operation this module does not serve."""
    bad = _bad_enum(params)
    if bad is not None:
        return bad
    if operation in UNSUPPORTED:
        key_id, error = _key(params)
        if error is not None:
            return error
        assert key_id is not None
        origin = key_metadata(KEY_IDS.index(key_id))["Origin"]
        return _error(
            "UnsupportedOperationException",
            f"{arn(key_id)} origin is {origin} which is not valid for this operation.",
        )
    if operation in CRYPTO:
        return _crypto(operation, params)
    if operation == "GenerateRandom":
        if params.get("CustomKeyStoreId") == "cks-missing":
            return _error("CustomKeyStoreNotFoundException", "no such store")
        return 200, {"Plaintext": _plaintext(int(params.get("NumberOfBytes", 32)))}
    if operation == "CreateKey":
        metadata = key_metadata(1 if params.get("Origin") == "EXTERNAL_KEY_STORE" else 0)
        if "Description" in params:
            metadata["Description"] = params["Description"]
        return 200, {"KeyMetadata": metadata}
    if operation in LIFECYCLE or operation == "DeleteAlias":
        return _lifecycle(operation, params)
    if operation in LISTINGS:
        if operation != "ListKeys" and operation != "ListAliases":
            _, error = _key(params)
            if error is not None:
                return error
        result_key, items = LISTINGS[operation]
        return result_key, items()
    return None
