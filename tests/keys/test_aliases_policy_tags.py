"""Aliases, key policy, tags and description through boto3 against a live server (contract
§5.1, §5.6-§5.8, §11), on AWS_KMS-origin keys; each test in a region of its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.keys.test_aws_kms_keys import error


def test_an_alias_names_its_key_everywhere_a_key_id_is_taken(kms: Any, region: str) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    alias_arn = f"arn:aws:kms:{region}:000000000000:alias/app"
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == key["KeyId"]
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == key["KeyId"]
    [entry] = kms.list_aliases()["Aliases"]
    assert entry["AliasName"] == "alias/app"
    assert entry["AliasArn"] == alias_arn
    assert entry["TargetKeyId"] == key["KeyId"]
    assert entry["CreationDate"] == entry["LastUpdatedDate"]


def test_alias_rules(kms: Any, region: str) -> None:
    first = kms.create_key()["KeyMetadata"]
    second = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/taken", TargetKeyId=first["KeyId"])
    with pytest.raises(ClientError) as raised:
        kms.create_alias(AliasName="alias/taken", TargetKeyId=second["KeyId"])
    assert error(raised) == (
        "AlreadyExistsException",
        f"An alias with the name arn:aws:kms:{region}:000000000000:alias/taken already exists",
    )
    with pytest.raises(ClientError) as raised:
        kms.create_alias(AliasName="alias/aws/reserved", TargetKeyId=first["KeyId"])
    assert error(raised)[0] == "InvalidAliasNameException"
    kms.update_alias(AliasName="alias/taken", TargetKeyId=second["KeyId"])
    [entry] = kms.list_aliases(KeyId=second["KeyId"])["Aliases"]
    assert entry["AliasName"] == "alias/taken"
    assert kms.list_aliases(KeyId=first["KeyId"])["Aliases"] == []
    kms.delete_alias(AliasName="alias/taken")
    with pytest.raises(ClientError) as raised:
        kms.delete_alias(AliasName="alias/taken")
    assert error(raised) == (
        "NotFoundException",
        f"Alias arn:aws:kms:{region}:000000000000:alias/taken is not found.",
    )
    with pytest.raises(ClientError) as raised:
        kms.update_alias(AliasName="alias/taken", TargetKeyId=first["KeyId"])
    assert error(raised)[0] == "NotFoundException"


def test_an_alias_name_without_its_prefix_is_a_validation_error(kms: Any) -> None:
    # KMS: a ValidationException whose message names the prefix, checked before the target
    # key is looked for (an unknown target does not change the answer).
    key = kms.create_key()["KeyMetadata"]
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    expected = (
        "ValidationException",
        'Alias must start with the prefix "alias/". Please see'
        " https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
    )
    for target in (key["KeyId"], missing):
        with pytest.raises(ClientError) as raised:
            kms.create_alias(AliasName="noprefix", TargetKeyId=target)
        assert error(raised) == expected
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    with pytest.raises(ClientError) as raised:
        kms.update_alias(AliasName="app", TargetKeyId=key["KeyId"])
    assert error(raised) == expected
    assert kms.list_aliases()["Aliases"][0]["AliasName"] == "alias/app"


def test_aliases_and_pending_deletion(kms: Any) -> None:
    doomed = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/source", TargetKeyId=doomed["KeyId"])
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    message = ("KMSInvalidStateException", f"{doomed['Arn']} is pending deletion.")
    with pytest.raises(ClientError) as raised:
        kms.create_alias(AliasName="alias/new", TargetKeyId=doomed["KeyId"])
    assert error(raised) == message
    kms.create_alias(AliasName="alias/other", TargetKeyId=other["KeyId"])
    with pytest.raises(ClientError) as raised:
        kms.update_alias(AliasName="alias/other", TargetKeyId=doomed["KeyId"])
    assert error(raised) == message
    # A source pending deletion is fine: only the destination matters.
    kms.update_alias(AliasName="alias/source", TargetKeyId=other["KeyId"])
    assert {a["AliasName"] for a in kms.list_aliases(KeyId=other["KeyId"])["Aliases"]} == {
        "alias/source",
        "alias/other",
    }


def test_list_aliases_pages(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    names = [f"alias/a{i}" for i in range(5)]
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
    seen = [
        entry["AliasName"]
        for page in kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 2})
        for entry in page["Aliases"]
    ]
    assert seen == names
    key_marker = None
    for _ in range(3):
        kms.create_key()
    key_marker = kms.list_keys(Limit=1)["NextMarker"]
    with pytest.raises(ClientError) as raised:
        kms.list_aliases(Marker=key_marker)  # a ListKeys marker is not an alias marker
    assert error(raised)[0] == "InvalidMarkerException"


def test_fifty_aliases_per_key(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for index in range(50):
        kms.create_alias(AliasName=f"alias/n{index}", TargetKeyId=key_id)
    with pytest.raises(ClientError) as raised:
        kms.create_alias(AliasName="alias/one-too-many", TargetKeyId=key_id)
    assert error(raised)[0] == "LimitExceededException"


def test_the_default_policy_and_put_key_policy(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    answer = kms.get_key_policy(KeyId=key_id, PolicyName="default")
    assert answer["PolicyName"] == "default"
    document = json.loads(answer["Policy"])
    assert document["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::000000000000:root"}
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == answer["Policy"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy
    with pytest.raises(ClientError) as raised:
        kms.put_key_policy(KeyId=key_id, Policy="{")
    assert error(raised)[0] == "MalformedPolicyDocumentException"
    with pytest.raises(ClientError) as raised:
        kms.get_key_policy(KeyId=key_id, PolicyName="other")
    assert error(raised)[0] == "NotFoundException"
    given = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]})
    created = kms.create_key(Policy=given)["KeyMetadata"]["KeyId"]
    assert kms.get_key_policy(KeyId=created)["Policy"] == given


def test_a_key_lists_its_one_policy(kms: Any) -> None:
    """ListKeyPolicies: `default`, whatever the key's state, one page; an alias is not a key
    id here, and a Marker is checked like every other."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    answer = kms.list_key_policies(KeyId=key_id)
    assert (answer["PolicyNames"], answer["Truncated"]) == (["default"], False)
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert kms.list_key_policies(KeyId=arn, Limit=1)["PolicyNames"] == ["default"]
    with pytest.raises(ClientError) as raised:
        kms.list_key_policies(KeyId="alias/anything")
    assert error(raised) == ("NotFoundException", "Invalid keyId alias/anything")
    with pytest.raises(ClientError) as raised:
        kms.list_key_policies(KeyId=key_id, Marker="not-a-marker")
    assert error(raised)[0] == "InvalidMarkerException"


def test_tags_and_description(kms: Any) -> None:
    key = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]
    key_id = key["KeyId"]
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "a"}]
    kms.tag_resource(
        KeyId=key_id,
        Tags=[{"TagKey": "team", "TagValue": "b"}, {"TagKey": "env", "TagValue": "dev"}],
    )
    listed = kms.list_resource_tags(KeyId=key_id)
    assert listed["Tags"] == [
        {"TagKey": "env", "TagValue": "dev"},
        {"TagKey": "team", "TagValue": "b"},
    ]
    assert listed["Truncated"] is False
    first = kms.list_resource_tags(KeyId=key_id, Limit=1)
    assert first["Truncated"] is True
    rest = kms.list_resource_tags(KeyId=key_id, Limit=1, Marker=first["NextMarker"])
    assert [t["TagKey"] for t in first["Tags"] + rest["Tags"]] == ["env", "team"]
    kms.untag_resource(KeyId=key_id, TagKeys=["env"])
    assert [t["TagKey"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]] == ["team"]
    kms.update_key_description(KeyId=key_id, Description="new words")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "new words"
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    message = ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.")
    for call in (
        lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "x", "TagValue": "y"}]),
        lambda: kms.untag_resource(KeyId=key_id, TagKeys=["team"]),
        lambda: kms.update_key_description(KeyId=key_id, Description="late"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error(raised) == message
    # Reading policy and tags works in every state (Terraform reads both after a create).
    assert kms.list_resource_tags(KeyId=key_id)["Tags"]
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]


def test_tag_errors_are_kms_s(kms: Any) -> None:
    # KMS's TagException messages name no tag; the aws: prefix is reserved in any case, and
    # CreateKey with more than 50 tags is a TagException too. Nothing is created or changed.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    reserved = ("TagException", "Tags beginning with aws: are reserved")
    for tag_key in ("aws:key1", "AWS:key1"):
        with pytest.raises(ClientError) as raised:
            kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": tag_key, "TagValue": "v"}])
        assert error(raised) == reserved
        with pytest.raises(ClientError) as raised:
            kms.create_key(Tags=[{"TagKey": tag_key, "TagValue": "v"}])
        assert error(raised) == reserved
    duplicate = [{"TagKey": "tag1", "TagValue": "a"}, {"TagKey": "tag1", "TagValue": "b"}]
    with pytest.raises(ClientError) as raised:
        kms.tag_resource(KeyId=key_id, Tags=duplicate)
    assert error(raised) == ("TagException", "Duplicate tag keys")
    with pytest.raises(ClientError) as raised:
        kms.create_key(Tags=duplicate)
    assert error(raised) == ("TagException", "Duplicate tag keys")
    too_many = [{"TagKey": f"key{i}", "TagValue": f"value{i}"} for i in range(51)]
    with pytest.raises(ClientError) as raised:
        kms.create_key(Tags=too_many)
    assert error(raised) == ("TagException", "Too many tags")
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []
    assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [key_id]


def test_rotation_import_and_key_pairs_on_aws_kms_keys(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False
    assert status["KeyId"] == key["Arn"]
    for call in (
        lambda: kms.enable_key_rotation(KeyId=key["KeyId"]),
        lambda: kms.disable_key_rotation(KeyId=key["KeyId"]),
        lambda: kms.rotate_key_on_demand(KeyId=key["KeyId"]),
        lambda: kms.list_key_rotations(KeyId=key["KeyId"]),
        lambda: kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec="RSA_2048"),
        lambda: kms.replicate_key(KeyId=key["KeyId"], ReplicaRegion="us-west-2"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error(raised)[0] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as raised:
        kms.get_parameters_for_import(
            KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    assert error(raised) == (
        "UnsupportedOperationException",
        f"{key['Arn']} origin is AWS_KMS which is not valid for this operation.",
    )
