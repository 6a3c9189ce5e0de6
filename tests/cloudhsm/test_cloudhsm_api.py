"""The CloudHSM v2 API through boto3: ids, states, real certificates, HSM placement, backups,
filters and pagination, and CloudHSM's own errors."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from kmscks.cloudhsm.admin_cli import _sign_csr
from tests.cloudhsm.lab import SUBNETS, Lab
from tests.helpers.proxies import wait_for


def code_of(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def test_cluster_lifecycle_with_real_certificates(lab: Lab) -> None:
    created = lab.hsm.create_cluster(HsmType="hsm2m.medium", SubnetIds=list(SUBNETS[:2]))
    cluster = created["Cluster"]
    assert re.fullmatch(r"cluster-[2-7a-z]{11}", cluster["ClusterId"])
    assert cluster["State"] == "CREATE_IN_PROGRESS"
    assert cluster["SubnetMapping"] == {lab.zone("a"): SUBNETS[0], lab.zone("b"): SUBNETS[1]}
    cluster_id = cluster["ClusterId"]
    lab.wait_state(cluster_id, "UNINITIALIZED")
    assert "ClusterCsr" not in lab.cluster(cluster_id)["Certificates"]  # no HSM yet
    hsm = lab.hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=lab.zone("b"))["Hsm"]
    assert re.fullmatch(r"hsm-[2-7a-z]{11}", hsm["HsmId"])
    assert (hsm["State"], hsm["SubnetId"], hsm["EniIp"]) == (
        "CREATE_IN_PROGRESS",
        SUBNETS[1],
        "10.0.2.4",
    )
    with pytest.raises(ClientError) as raised:  # one HSM until initialized
        lab.hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=lab.zone("a"))
    assert code_of(raised) == "CloudHsmInvalidRequestException"
    lab.wait_hsms(cluster_id, 1)
    csr_pem = lab.cluster(cluster_id)["Certificates"]["ClusterCsr"]
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    anchor, signed = _sign_csr(csr_pem)
    other_anchor, other_signed = _sign_csr(csr_pem)
    for bad_signed, bad_anchor in (
        (signed, other_anchor),
        ("garbage", anchor),
        (other_signed, anchor),
    ):
        with pytest.raises(ClientError) as raised:
            lab.hsm.initialize_cluster(
                ClusterId=cluster_id, SignedCert=bad_signed, TrustAnchor=bad_anchor
            )
        assert code_of(raised) == "CloudHsmInvalidRequestException"
    answer = lab.hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=anchor)
    assert answer["State"] == "INITIALIZE_IN_PROGRESS"
    initialized = lab.wait_state(cluster_id, "INITIALIZED")
    assert initialized["Certificates"]["ClusterCertificate"] == signed
    with pytest.raises(ClientError) as raised:
        lab.hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=anchor)
    assert code_of(raised) == "CloudHsmInvalidRequestException"
    lab.admin("ActivateCluster", ClusterId=cluster_id)
    assert lab.cluster(cluster_id)["State"] == "ACTIVE"
    backups = lab.hsm.describe_backups(Filters={"clusterIds": [cluster_id]})["Backups"]
    assert backups and re.fullmatch(r"backup-[2-7a-z]{11}", backups[0]["BackupId"])
    # Delete: HSMs first, then the cluster.
    with pytest.raises(ClientError) as raised:
        lab.hsm.delete_cluster(ClusterId=cluster_id)
    assert code_of(raised) == "CloudHsmInvalidRequestException"
    assert lab.hsm.delete_hsm(ClusterId=cluster_id, EniIp="10.0.2.4")["HsmId"] == hsm["HsmId"]
    wait_for(lambda: lab.cluster(cluster_id)["Hsms"] == [])
    assert lab.hsm.delete_cluster(ClusterId=cluster_id)["Cluster"]["State"] == "DELETE_IN_PROGRESS"
    lab.wait_state(cluster_id, "DELETED")
    with pytest.raises(ClientError) as raised:
        lab.hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=lab.zone("a"))
    assert code_of(raised) == "CloudHsmResourceNotFoundException"


def test_a_cluster_from_a_backup_shares_certificate_and_lineage(lab: Lab) -> None:
    source = lab.build()
    restored = lab.restore(source)
    source_view, restored_view = lab.cluster(source.id), lab.cluster(restored.id)
    assert restored_view["State"] == "ACTIVE"
    assert restored_view["SourceBackupId"].startswith("backup-")
    assert (
        restored_view["Certificates"]["ClusterCertificate"]
        == source_view["Certificates"]["ClusterCertificate"]
    )
    with pytest.raises(ClientError) as raised:
        lab.hsm.create_cluster(
            HsmType="hsm2m.medium", SubnetIds=[SUBNETS[0]], SourceBackupId="backup-aaaaaaaaaaa"
        )
    assert code_of(raised) == "CloudHsmResourceNotFoundException"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"HsmType": "hsm9.giant", "SubnetIds": [SUBNETS[0]]}, "not supported"),
        ({"HsmType": "nonsense!", "SubnetIds": [SUBNETS[0]]}, "regular expression pattern"),
        ({"HsmType": "hsm2m.medium", "SubnetIds": []}, "length greater than or equal to 1"),
        ({"HsmType": "hsm2m.medium", "SubnetIds": ["subnet-0123456789abcdef0"]}, "does not exist"),
        ({"HsmType": "hsm2m.medium", "SubnetIds": [SUBNETS[0], SUBNETS[0]]}, "one subnet per"),
    ],
)
def test_invalid_requests_are_cloudhsm_errors(
    lab: Lab, params: dict[str, object], message: str
) -> None:
    client = lab.hsm
    if not params["SubnetIds"]:
        client.meta.events.register("before-parameter-build.*.*", lambda **kwargs: None)
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "cloudhsmv2",
            endpoint_url=lab.url,
            region_name=lab.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(parameter_validation=False),
        )
    with pytest.raises(ClientError) as raised:
        client.create_cluster(**params)
    assert code_of(raised) == "CloudHsmInvalidRequestException"
    assert message in raised.value.response["Error"]["Message"]


def test_hsm_placement_follows_subnets(lab: Lab) -> None:
    cluster = lab.build(hsm_zones=("a",), kmsuser=None)
    with pytest.raises(ClientError) as raised:  # no subnet in zone c
        lab.hsm.create_hsm(ClusterId=cluster.id, AvailabilityZone=lab.zone("c"))
    assert code_of(raised) == "CloudHsmInvalidRequestException"
    lab.admin("ExhaustSubnet", SubnetId=SUBNETS[1])
    with pytest.raises(ClientError) as raised:
        lab.hsm.create_hsm(ClusterId=cluster.id, AvailabilityZone=lab.zone("b"))
    assert "no free IP addresses" in raised.value.response["Error"]["Message"]
    lab.admin("RestoreSubnet", SubnetId=SUBNETS[1])
    hsm = lab.hsm.create_hsm(
        ClusterId=cluster.id, AvailabilityZone=lab.zone("b"), IpAddress="10.0.2.9"
    )
    assert hsm["Hsm"]["EniIp"] == "10.0.2.9"


def test_describe_filters_pagination_and_isolation(lab: Lab, hsm_server: object) -> None:
    ids = [
        lab.hsm.create_cluster(HsmType="hsm2m.medium", SubnetIds=[SUBNETS[0]])["Cluster"][
            "ClusterId"
        ]
        for _ in range(3)
    ]
    pages = lab.hsm.get_paginator("describe_clusters").paginate(PaginationConfig={"PageSize": 1})
    assert [c["ClusterId"] for page in pages for c in page["Clusters"]] == ids
    one = lab.hsm.describe_clusters(Filters={"clusterIds": [ids[1]]})["Clusters"]
    assert [c["ClusterId"] for c in one] == [ids[1]]
    wait_for(
        lambda: (
            len(lab.hsm.describe_clusters(Filters={"states": ["UNINITIALIZED"]})["Clusters"]) == 3
        )
    )
    for bad in ({"Filters": {"colour": ["red"]}}, {"NextToken": "forged"}):
        with pytest.raises(ClientError) as raised:
            lab.hsm.describe_clusters(**bad)
        assert code_of(raised) == "CloudHsmInvalidRequestException"
    elsewhere = Lab(lab.url, "zz-west-9")
    assert elsewhere.hsm.describe_clusters(Filters={"clusterIds": ids})["Clusters"] == []
