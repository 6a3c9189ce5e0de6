"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext) and GenerateRandom with boto3
against a live server: AWS_KMS keys and CloudHSM keys (external keys: test_kill_switch.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.cloudhsm.lab import Lab
from tests.helpers.clients import kms_client, unique_region
from tests.helpers.server import ServerProcess


def error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    answer = raised.value.response
    return answer["Error"]["Code"], answer["Error"].get("Message", "")


@pytest.fixture
def kms_key(kms: Any) -> str:
    return str(kms.create_key(Description="crypto")["KeyMetadata"]["Arn"])


def test_encrypt_and_decrypt_with_and_without_key_id(kms: Any, kms_key: str) -> None:
    context = {"purpose": "test", "ünïcode": "välue"}
    sealed = kms.encrypt(KeyId=kms_key, Plaintext=b"hello", EncryptionContext=context)
    assert sealed["KeyId"] == kms_key
    assert sealed["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = sealed["CiphertextBlob"]
    assert b"hello" not in blob
    for named in ({}, {"KeyId": kms_key}):
        opened = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context, **named)
        assert (opened["Plaintext"], opened["KeyId"]) == (b"hello", kms_key)
    key_id = kms_key.rsplit("/", 1)[1]
    assert (
        kms.decrypt(CiphertextBlob=blob, KeyId=key_id, EncryptionContext=context)["KeyId"]
        == kms_key
    )


def test_an_alias_encrypts_and_an_empty_context_is_no_context(kms: Any, kms_key: str) -> None:
    kms.create_alias(AliasName="alias/crypto-test", TargetKeyId=kms_key)
    blob = kms.encrypt(KeyId="alias/crypto-test", Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={})["Plaintext"] == b"x"


def test_a_wrong_context_or_a_changed_blob_is_an_invalid_ciphertext_without_message(
    server: ServerProcess, region: str, kms: Any, kms_key: str
) -> None:
    blob = kms.encrypt(KeyId=kms_key, Plaintext=b"x", EncryptionContext={"a": "1"})[
        "CiphertextBlob"
    ]
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "2"})
    assert error(raised) == ("InvalidCiphertextException", "")
    flipped = blob[:-1] + bytes((blob[-1] ^ 1,))
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=flipped, EncryptionContext={"a": "1"})
    assert error(raised)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=b"not a cks ciphertext at all")
    assert error(raised) == ("InvalidCiphertextException", "")
    # On the wire: {"__type": "InvalidCiphertextException"} with no message member.
    body = raised.value.response["Error"]
    assert "Message" not in body or body["Message"] == ""


def test_the_key_in_the_request_must_be_the_key_of_the_blob(kms: Any, kms_key: str) -> None:
    other = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=kms_key, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=blob, KeyId=other)
    assert error(raised) == (
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    )


def test_a_blob_of_another_region_is_access_denied(
    server: ServerProcess, kms: Any, kms_key: str
) -> None:
    blob = kms.encrypt(KeyId=kms_key, Plaintext=b"x")["CiphertextBlob"]
    elsewhere = kms_client(server.url, unique_region())
    with pytest.raises(ClientError) as raised:
        elsewhere.decrypt(CiphertextBlob=blob)
    assert error(raised)[0] == "AccessDeniedException"
    assert "does not exist" in error(raised)[1]


def test_states_refuse_cryptography_with_the_key_arn(kms: Any, kms_key: str) -> None:
    blob = kms.encrypt(KeyId=kms_key, Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=kms_key)
    for call in (
        lambda: kms.encrypt(KeyId=kms_key, Plaintext=b"x"),
        lambda: kms.decrypt(CiphertextBlob=blob),
        lambda: kms.generate_data_key(KeyId=kms_key, KeySpec="AES_256"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error(raised) == ("DisabledException", f"{kms_key} is disabled.")
    kms.schedule_key_deletion(KeyId=kms_key, PendingWindowInDays=7)
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=blob)
    assert error(raised) == ("KMSInvalidStateException", f"{kms_key} is pending deletion.")
    kms.cancel_key_deletion(KeyId=kms_key)
    kms.enable_key(KeyId=kms_key)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_data_keys(kms: Any, kms_key: str) -> None:
    pair = kms.generate_data_key(KeyId=kms_key, NumberOfBytes=32, EncryptionContext={"k": "v"})
    assert len(pair["Plaintext"]) == 32 and pair["KeyId"] == kms_key
    opened = kms.decrypt(CiphertextBlob=pair["CiphertextBlob"], EncryptionContext={"k": "v"})
    assert opened["Plaintext"] == pair["Plaintext"]
    assert len(kms.generate_data_key(KeyId=kms_key, KeySpec="AES_128")["Plaintext"]) == 16
    bare = kms.generate_data_key_without_plaintext(KeyId=kms_key, KeySpec="AES_256")
    assert "Plaintext" not in bare and bare["KeyId"] == kms_key
    assert len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 32
    for wrong in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        with pytest.raises(ClientError) as raised:
            kms.generate_data_key(KeyId=kms_key, **wrong)
        assert error(raised) == (
            "ValidationException",
            "Please specify either number of bytes or key spec.",
        )


def test_re_encrypt_moves_a_ciphertext_to_another_key(kms: Any, kms_key: str) -> None:
    other = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=kms_key, Plaintext=b"moved", EncryptionContext={"a": "b"})[
        "CiphertextBlob"
    ]
    moved = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"a": "b"},
        DestinationKeyId=other,
        DestinationEncryptionContext={"c": "d"},
    )
    assert (moved["SourceKeyId"], moved["KeyId"]) == (kms_key, other)
    opened = kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"c": "d"})
    assert (opened["Plaintext"], opened["KeyId"]) == (b"moved", other)


def test_aws_kms_keys_name_their_key_material_as_kms_does(kms: Any, kms_key: str) -> None:
    # KMS names the material of an AWS_KMS key: CurrentKeyMaterialId in KeyMetadata, and
    # KeyMaterialId (ReEncrypt: Source/DestinationKeyMaterialId) in the answers that used it;
    # 64 lowercase hex digits, one per key (cks never rotates), not Encrypt's (not in the model).
    described = kms.describe_key(KeyId=kms_key)["KeyMetadata"]
    material = described["CurrentKeyMaterialId"]
    assert re.fullmatch(r"[0-9a-f]{64}", material)
    other = kms.create_key()["KeyMetadata"]
    assert re.fullmatch(r"[0-9a-f]{64}", other["CurrentKeyMaterialId"])
    assert other["CurrentKeyMaterialId"] != material
    assert kms.describe_key(KeyId=kms_key)["KeyMetadata"]["CurrentKeyMaterialId"] == material
    sealed = kms.encrypt(KeyId=kms_key, Plaintext=b"named")
    assert "KeyMaterialId" not in sealed
    opened = kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"])
    assert opened["KeyMaterialId"] == material
    assert kms.generate_data_key(KeyId=kms_key, KeySpec="AES_256")["KeyMaterialId"] == material
    bare = kms.generate_data_key_without_plaintext(KeyId=kms_key, KeySpec="AES_256")
    assert bare["KeyMaterialId"] == material
    moved = kms.re_encrypt(CiphertextBlob=sealed["CiphertextBlob"], DestinationKeyId=other["Arn"])
    assert moved["SourceKeyMaterialId"] == material
    assert moved["DestinationKeyMaterialId"] == other["CurrentKeyMaterialId"]


def test_dry_run_and_algorithms(kms: Any, kms_key: str) -> None:
    with pytest.raises(ClientError) as raised:
        kms.encrypt(KeyId=kms_key, Plaintext=b"x", DryRun=True)
    assert error(raised)[0] == "DryRunOperationException"
    with pytest.raises(ClientError) as raised:
        kms.encrypt(KeyId=kms_key, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error(raised)[0] == "InvalidKeyUsageException"


def test_plaintext_size_is_the_models(kms: Any, kms_key: str) -> None:
    blob = kms.encrypt(KeyId=kms_key, Plaintext=b"\x00" * 4096)["CiphertextBlob"]
    assert len(blob) <= 6144
    with pytest.raises(ClientError) as raised:
        kms.encrypt(KeyId=kms_key, Plaintext=b"\x00" * 4097)
    code, message = error(raised)
    assert code == "ValidationException" and "4096" in message and "\\x00" not in message


def test_generate_random(kms: Any) -> None:
    assert len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024
    with pytest.raises(ClientError) as raised:
        kms.generate_random()
    assert error(raised)[0] == "ValidationException"


def test_no_plaintext_or_key_material_in_the_server_log_or_database(
    server: ServerProcess, kms: Any, kms_key: str
) -> None:
    secret = b"a very recognisable plaintext 0123456789"
    kms.encrypt(KeyId=kms_key, Plaintext=secret)
    data = b"".join(path.read_bytes() for path in server.data_dir.rglob("*") if path.is_file())
    assert secret not in data
    assert secret not in server.log_path.read_bytes()


# -- CloudHSM keys --------------------------------------------------------------------------


@pytest.fixture
def hsm_key(lab: Lab) -> tuple[Lab, str, str, str]:
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    arn = lab.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]["Arn"]
    return lab, cluster.id, store_id, str(arn)


def test_cloudhsm_keys_encrypt_in_the_cluster(hsm_key: tuple[Lab, str, str, str]) -> None:
    lab, _, store_id, arn = hsm_key
    kms = lab.kms
    blob = kms.encrypt(KeyId=arn, Plaintext=b"in the hsm", EncryptionContext={"a": "b"})[
        "CiphertextBlob"
    ]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == (
        b"in the hsm"
    )
    pair = kms.generate_data_key(KeyId=arn, NumberOfBytes=32)
    opened = kms.decrypt(CiphertextBlob=pair["CiphertextBlob"])
    assert opened["Plaintext"] == pair["Plaintext"]
    assert len(kms.generate_random(NumberOfBytes=16, CustomKeyStoreId=store_id)["Plaintext"]) == 16
    # A custom-store key's material is never named (only AWS_KMS keys' is).
    assert "CurrentKeyMaterialId" not in kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert "KeyMaterialId" not in pair and "KeyMaterialId" not in opened
    plain = kms.create_key()["KeyMetadata"]
    moved = kms.re_encrypt(CiphertextBlob=pair["CiphertextBlob"], DestinationKeyId=plain["Arn"])
    assert "SourceKeyMaterialId" not in moved
    assert moved["DestinationKeyMaterialId"] == plain["CurrentKeyMaterialId"]
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "c"})
    assert error(raised) == ("InvalidCiphertextException", "")


def test_cloudhsm_kill_switch_drills(hsm_key: tuple[Lab, str, str, str]) -> None:
    lab, cluster_id, store_id, arn = hsm_key
    kms = lab.kms
    blob = kms.encrypt(KeyId=arn, Plaintext=b"drill")["CiphertextBlob"]
    lab.admin("BlockNetwork", ClusterId=cluster_id)
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=blob)
    assert error(raised)[0] == "KMSInvalidStateException"
    assert "cannot communicate with your CloudHSM cluster" in error(raised)[1]
    lab.admin("UnblockNetwork", ClusterId=cluster_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"drill"
    # Disconnecting makes the key Unavailable at once; reconnecting brings the old blob back.
    lab.disconnect(store_id)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Unavailable"
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=blob)
    assert error(raised) == ("KMSInvalidStateException", f"{arn} is unavailable.")
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"drill"
    # The backing key deleted in the cluster: the key stays Enabled, cryptography fails.
    lab.admin("DeleteKey", ClusterId=cluster_id, Label=arn)
    with pytest.raises(ClientError) as raised:
        kms.decrypt(CiphertextBlob=blob)
    assert error(raised) == (
        "KMSInvalidStateException",
        f"The key material for {arn} is not available in CloudHSM cluster {cluster_id}.",
    )
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"


def test_generate_random_in_a_store(lab: Lab) -> None:
    with pytest.raises(ClientError) as raised:
        lab.kms.generate_random(NumberOfBytes=8, CustomKeyStoreId="cks-00000000000000000")
    assert error(raised)[0] == "CustomKeyStoreNotFoundException"
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    with pytest.raises(ClientError) as raised:
        lab.kms.generate_random(NumberOfBytes=8, CustomKeyStoreId=store_id)
    assert error(raised)[0] == "CustomKeyStoreInvalidStateException"


def test_encryption_context_is_bound_across_key_types(kms: Any, kms_key: str) -> None:
    blob = kms.encrypt(KeyId=kms_key, Plaintext=b"x", EncryptionContext={"a": "1", "b": "2"})[
        "CiphertextBlob"
    ]
    reordered = json.loads(json.dumps({"b": "2", "a": "1"}))
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=reordered)["Plaintext"] == b"x"


def test_a_cloudhsm_key_whose_kmsuser_is_deleted_cannot_be_used(
    hsm_key: tuple[Lab, str, str, str],
) -> None:
    lab, cluster_id, _, arn = hsm_key
    blob = lab.kms.encrypt(KeyId=arn, Plaintext=b"kmsuser")["CiphertextBlob"]
    lab.admin("DeleteKmsUser", ClusterId=cluster_id)
    with pytest.raises(ClientError) as raised:
        lab.kms.decrypt(CiphertextBlob=blob)
    assert error(raised)[0] == "KMSInvalidStateException"
    assert "cannot communicate with your CloudHSM cluster" in error(raised)[1]
    assert lab.kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
