"""The one table of a custom key store's wire members and columns (service/members.py) agrees
with the model, the store's row and the columns Describe reads."""

from __future__ import annotations

from dataclasses import fields

from kmscks.api.model import load_service_model
from kmscks.service.members import CREATE_COLUMNS, LISTED_COLUMNS, MEMBERS, PROXY, VPC_ONLY
from kmscks.store.records import LISTING_COLUMNS, StoreRecord

SHAPES = load_service_model("kms").raw["shapes"]


def _members(shape: str) -> set[str]:
    return set(SHAPES[shape]["members"])


def test_every_listed_member_is_the_models_and_every_model_member_is_listed() -> None:
    entry = {m.listed for m in MEMBERS if m.shown not in (PROXY, VPC_ONLY)}
    proxy = {m.listed for m in MEMBERS if m.shown in (PROXY, VPC_ONLY)}
    assert entry | {"XksProxyConfiguration"} == _members("CustomKeyStoresListEntry")
    assert proxy == _members("XksProxyConfigurationType")


def test_request_members_are_the_models() -> None:
    assert set(CREATE_COLUMNS) <= _members("CreateCustomKeyStoreRequest")
    updates = {m.update for m in MEMBERS if m.update}
    assert updates <= _members("UpdateCustomKeyStoreRequest")


def test_columns_are_the_rows_and_describe_reads_exactly_the_listed_ones() -> None:
    assert {m.column for m in MEMBERS} <= {f.name for f in fields(StoreRecord)}
    assert (*LISTED_COLUMNS, "seq") == LISTING_COLUMNS
