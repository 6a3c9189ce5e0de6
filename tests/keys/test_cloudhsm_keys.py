"""Keys in a CloudHSM key store through boto3, on clusters built as a user builds them: the
backing key in the cluster, KeyMetadata, the two-HSM rule, states following the store, and the
backing key's deletion at the end of the waiting period (contract §3.3, §4, §5.5, §6)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.cloudhsm.lab import Cluster, Lab, hsm_region
from tests.helpers.proxies import wait_for
from tests.helpers.server import ServerProcess
from tests.keys.test_aws_kms_keys import error


def connected_store(lab: Lab) -> tuple[Cluster, str]:
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    return cluster, store_id


def backing_labels(lab: Lab, cluster: Cluster) -> list[str]:
    return [key["Label"] for key in lab.admin("ListKeys", ClusterId=cluster.id)["Keys"]]


def create_hsm_key(lab: Lab, store_id: str, **params: Any) -> dict[str, Any]:
    return dict(
        lab.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, **params)[
            "KeyMetadata"
        ]
    )


def test_create_a_cloudhsm_key(lab: Lab) -> None:
    cluster, store_id = connected_store(lab)
    created = create_hsm_key(lab, store_id, Description="in the cluster")
    assert created["Origin"] == "AWS_CLOUDHSM"
    assert created["CustomKeyStoreId"] == store_id
    assert created["CloudHsmClusterId"] == cluster.id
    assert created["KeyState"] == "Enabled"
    assert "XksKeyConfiguration" not in created
    assert lab.kms.describe_key(KeyId=created["KeyId"])["KeyMetadata"] == created
    # The backing key is labelled with the KMS key ARN.
    assert backing_labels(lab, cluster) == [created["Arn"]]
    with pytest.raises(ClientError) as raised:
        lab.kms.get_key_rotation_status(KeyId=created["KeyId"])
    assert error(raised) == (
        "UnsupportedOperationException",
        f"{created['Arn']} origin is AWS_CLOUDHSM which is not valid for this operation.",
    )


def test_create_needs_a_connected_store_and_two_active_hsms(lab: Lab) -> None:
    cluster, store_id = connected_store(lab)
    for hsm in lab.cluster(cluster.id)["Hsms"][1:]:
        lab.hsm.delete_hsm(ClusterId=cluster.id, HsmId=hsm["HsmId"])
    wait_for(lambda: len(lab.cluster(cluster.id)["Hsms"]) == 1)
    with pytest.raises(ClientError) as raised:
        create_hsm_key(lab, store_id)
    assert error(raised)[0] == "CloudHsmClusterInvalidConfigurationException"
    assert lab.kms.list_keys()["Keys"] == []
    assert backing_labels(lab, cluster) == []
    lab.disconnect(store_id)
    with pytest.raises(ClientError) as raised:
        create_hsm_key(lab, store_id)
    assert error(raised) == (
        "CustomKeyStoreInvalidStateException",
        f"The custom key store {store_id} is not connected. Connect the custom key store and"
        " try the request again.",
    )


def test_states_follow_the_store(lab: Lab) -> None:
    _, store_id = connected_store(lab)
    key_id = create_hsm_key(lab, store_id)["KeyId"]
    lab.disconnect(store_id)
    assert lab.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Unavailable"
    lab.kms.disable_key(KeyId=key_id)
    lab.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert lab.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    lab.kms.cancel_key_deletion(KeyId=key_id)
    assert lab.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Unavailable"
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    assert lab.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_deletion_removes_the_backing_key_and_frees_the_store(
    short_day_server: ServerProcess,
) -> None:
    lab = Lab(short_day_server.url, hsm_region())
    cluster, store_id = connected_store(lab)
    kept = create_hsm_key(lab, store_id)
    doomed = create_hsm_key(lab, store_id)
    lab.kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    wait_for(lambda: backing_labels(lab, cluster) == [kept["Arn"]])
    assert [k["KeyId"] for k in lab.kms.list_keys()["Keys"]] == [kept["KeyId"]]
    assert f"backing key of deleted KMS key {doomed['Arn']}: deleted:" in short_day_server.log()
    # Deleted while the store is disconnected: the backing key stays in the cluster.
    lab.disconnect(store_id)
    with pytest.raises(ClientError) as raised:
        lab.kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert error(raised)[0] == "CustomKeyStoreHasCMKsException"
    lab.kms.schedule_key_deletion(KeyId=kept["KeyId"], PendingWindowInDays=7)
    wait_for(lambda: lab.kms.list_keys()["Keys"] == [])
    wait_for(lambda: f"deleted KMS key {kept['Arn']}" in short_day_server.log())
    assert backing_labels(lab, cluster) == [kept["Arn"]]
    assert f"backing key of deleted KMS key {kept['Arn']} left in its cluster (orphaned)" in (
        short_day_server.log()
    )
    lab.kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert lab.kms.describe_custom_key_stores()["CustomKeyStores"] == []
