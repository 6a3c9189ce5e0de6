"""The KMS operations cks serves: one declared list.

service layer; imports nothing. To add an operation: name it here, write its coroutine with
`@serves("Name")` (kmscks.registry) in the service module of its family, and bind that service
in kmscks.runtime if it is a new one. The server refuses to start when this list and the
@serves coroutines disagree, or when a name is not an operation of botocore's `kms` model.
Every other operation of the model is answered with UnknownOperationException.
"""

from __future__ import annotations

KMS_OPERATIONS: tuple[str, ...] = (
    # Custom key stores: service/custom_key_stores.py and service/update.py.
    "CreateCustomKeyStore",
    "DescribeCustomKeyStores",
    "UpdateCustomKeyStore",
    "ConnectCustomKeyStore",
    "DisconnectCustomKeyStore",
    "DeleteCustomKeyStore",
    # KMS keys: service/keys.py (KeyService) and the modules it gathers.
    "CreateKey",  # key_create.py
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "CreateAlias",  # aliases.py
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "GetKeyPolicy",  # key_extras.py
    "PutKeyPolicy",
    "ListKeyPolicies",
    "ListResourceTags",
    "TagResource",
    "UntagResource",
    "UpdateKeyDescription",
    # Cryptography: service/crypto.py (CryptoOperations).
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    # Answered, not supported (docs/keys.md): key_extras.py.
    "GetKeyRotationStatus",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "ReplicateKey",
    "UpdatePrimaryRegion",
)
