"""CloudHSM key stores through KMS: every exception and ConnectionErrorCode of the contract,
each reached the way a user would reach it."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from kmscks.cloudhsm.admin_cli import _sign_csr
from tests.cloudhsm.lab import SUBNETS, Lab


def code_of(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def test_a_ready_cluster_gives_a_connected_store(lab: Lab) -> None:
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    entry = lab.store(store_id)
    assert list(entry) == [
        "CustomKeyStoreId",
        "CustomKeyStoreName",
        "CloudHsmClusterId",
        "TrustAnchorCertificate",
        "ConnectionState",
        "CreationDate",
        "CustomKeyStoreType",
    ]
    assert (entry["CloudHsmClusterId"], entry["CustomKeyStoreType"]) == (cluster.id, "AWS_CLOUDHSM")
    assert entry["TrustAnchorCertificate"] == cluster.trust_anchor
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"


def test_create_checks_the_cluster(lab: Lab) -> None:
    cluster = lab.build()
    cases = [
        (dict(CloudHsmClusterId="cluster-aaaaaaaaaaa"), "CloudHsmClusterNotFoundException"),
        (
            dict(
                TrustAnchorCertificate=_sign_csr(
                    lab.cluster(cluster.id)["Certificates"].get("ClusterCsr", "") or _any_csr()
                )[0]
            ),
            "IncorrectTrustAnchorException",
        ),
        (dict(TrustAnchorCertificate="not a certificate"), "IncorrectTrustAnchorException"),
    ]
    for overrides, expected in cases:
        params = {
            "CustomKeyStoreName": "checked",
            "CloudHsmClusterId": cluster.id,
            "TrustAnchorCertificate": cluster.trust_anchor,
            "KeyStorePassword": "kmsPswd1",
            **overrides,
        }
        with pytest.raises(ClientError) as raised:
            lab.kms.create_custom_key_store(**params)
        assert code_of(raised) == expected


def _any_csr() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_a_cluster_that_is_not_active(lab: Lab) -> None:
    cluster = lab.build(activate=False)
    with pytest.raises(ClientError) as raised:
        lab.create_store(cluster)
    assert code_of(raised) == "CloudHsmClusterNotActiveException"


@pytest.mark.parametrize("problem", ["one-hsm", "same-zone", "one-subnet", "security-group"])
def test_invalid_cluster_configurations(lab: Lab, problem: str) -> None:
    if problem == "one-hsm":
        cluster = lab.build(hsm_zones=("a",))
    elif problem == "same-zone":
        cluster = lab.build(hsm_zones=("a", "a"))
    elif problem == "one-subnet":
        cluster = lab.build(hsm_zones=("a", "a"), subnets=SUBNETS[:1])
    else:
        cluster = lab.build()
        lab.admin("BreakSecurityGroup", ClusterId=cluster.id)
    with pytest.raises(ClientError) as raised:
        lab.create_store(cluster)
    assert code_of(raised) == "CloudHsmClusterInvalidConfigurationException"


def test_one_store_per_cluster_and_backup_lineage(lab: Lab) -> None:
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    # The same request again returns the same store (the documented idempotent retry).
    assert lab.create_store(cluster) == store_id
    with pytest.raises(ClientError) as raised:
        lab.create_store(cluster, name="second")
    assert code_of(raised) == "CloudHsmClusterInUseException"
    restored = lab.restore(cluster)
    with pytest.raises(ClientError) as raised:
        lab.create_store(restored, name="third")
    assert code_of(raised) == "CloudHsmClusterInUseException"
    # Not idempotent once the store is no longer DISCONNECTED: the name is taken.
    lab.connect(store_id)
    with pytest.raises(ClientError) as raised:
        lab.create_store(cluster)
    assert code_of(raised) == "CustomKeyStoreNameInUseException"


def test_update_to_a_related_or_unrelated_cluster(lab: Lab) -> None:
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    stranger = lab.build()
    with pytest.raises(ClientError) as raised:
        lab.kms.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId=stranger.id)
    assert code_of(raised) == "CloudHsmClusterNotRelatedException"
    with pytest.raises(ClientError) as raised:
        lab.kms.update_custom_key_store(
            CustomKeyStoreId=store_id, CloudHsmClusterId="cluster-aaaaaaaaaaa"
        )
    assert code_of(raised) == "CloudHsmClusterNotFoundException"
    restored = lab.restore(cluster)
    lab.kms.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId=restored.id)
    assert lab.store(store_id)["CloudHsmClusterId"] == restored.id
    # The restored cluster has the source's kmsuser (backups keep users).
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    with pytest.raises(ClientError) as raised:
        lab.kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="another1")
    assert code_of(raised) == "CustomKeyStoreInvalidStateException"


def test_connect_refuses_synchronously(lab: Lab) -> None:
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    lab.admin("BreakSecurityGroup", ClusterId=cluster.id)
    with pytest.raises(ClientError) as raised:
        lab.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert code_of(raised) == "CloudHsmClusterInvalidConfigurationException"
    assert lab.store(store_id)["ConnectionState"] == "DISCONNECTED"
    lab.admin("RepairSecurityGroup", ClusterId=cluster.id)
    for hsm in lab.cluster(cluster.id)["Hsms"]:
        lab.hsm.delete_hsm(ClusterId=cluster.id, HsmId=hsm["HsmId"])
    lab.wait_hsms(cluster.id, 0)
    lab.hsm.delete_cluster(ClusterId=cluster.id)
    with pytest.raises(ClientError) as raised:
        lab.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert code_of(raised) == "CloudHsmClusterNotActiveException"  # DELETE_IN_PROGRESS
    lab.wait_state(cluster.id, "DELETED")
    assert (lab.connect(store_id)["ConnectionErrorCode"]) == "CLUSTER_NOT_FOUND"


ROUTES = {
    "INSUFFICIENT_CLOUDHSM_HSMS": "delete-hsms",
    "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET": "ExhaustSubnet",
    "SUBNET_NOT_FOUND": "DeleteSubnet",
    "USER_LOCKED_OUT": "LockOutKmsUser",
    "USER_LOGGED_IN": "LogInKmsUser",
    "USER_NOT_FOUND": "DeleteKmsUser",
    "NETWORK_ERRORS": "BlockNetwork",
}


@pytest.mark.parametrize("code", sorted(ROUTES))
def test_each_connection_error_code(lab: Lab, code: str) -> None:
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    route = ROUTES[code]
    if route == "delete-hsms":
        for hsm in lab.cluster(cluster.id)["Hsms"]:
            lab.hsm.delete_hsm(ClusterId=cluster.id, HsmId=hsm["HsmId"])
        lab.wait_hsms(cluster.id, 0)
    elif route.endswith("Subnet"):
        lab.admin(route, SubnetId=SUBNETS[1])
    else:
        lab.admin(route, ClusterId=cluster.id)
    entry = lab.connect(store_id)
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == ("FAILED", code)
    lab.disconnect(store_id)
    assert "ConnectionErrorCode" not in lab.store(store_id)


def test_wrong_passwords_lock_the_kmsuser_and_rotation(lab: Lab) -> None:
    cluster = lab.build(kmsuser="original1")
    store_id = lab.create_store(cluster, password="original1")
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    lab.disconnect(store_id)
    # KMS rotated the kmsuser password when it connected: the original one is now wrong.
    lab.kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="original1")
    for _ in range(3):
        entry = lab.connect(store_id)
        assert entry["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
        lab.disconnect(store_id)
    # Three failures lock the user out.
    assert lab.connect(store_id)["ConnectionErrorCode"] == "USER_LOCKED_OUT"
    lab.disconnect(store_id)
    # The admin sets a password by hand (which unlocks); KMS must be told before reconnecting.
    lab.admin("ChangeKmsUserPassword", ClusterId=cluster.id, Password="byhand123")
    assert lab.connect(store_id)["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
    lab.disconnect(store_id)
    lab.kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="byhand123")
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
