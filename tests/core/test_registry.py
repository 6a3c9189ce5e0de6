"""The registry of served operations: explicit @serves coroutines bound against one declared
list; every mismatch is a start-up error, and an operation the model names but nothing serves
is answered with UnknownOperationException."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kmscks.api.auth import Authenticator
from kmscks.api.handler import Api, RequestHandler
from kmscks.api.model import load_service_model
from kmscks.caller import Caller
from kmscks.cloudhsm.admin import ADMIN_MODEL, ADMIN_OPERATIONS
from kmscks.cloudhsm.api import CLOUDHSM_OPERATIONS
from kmscks.config import Credential
from kmscks.registry import RegistryError, bind, served_by, serves
from kmscks.runtime import ServeOptions, build_process
from kmscks.service.diagnostics import DIAGNOSTICS_MODEL, DIAGNOSTICS_OPERATIONS
from kmscks.service.served import KMS_OPERATIONS
from tests.core.test_caller import signed


class Keys:
    @serves("ListKeys")
    async def list_keys(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return {"Keys": [], "Truncated": False}

    async def describe_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        """Named like an operation, but not registered: never served."""
        return {}


class MoreKeys(Keys):
    @serves("GetKeyPolicy")
    async def policy(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return {"Policy": "{}"}


def test_bind_gives_the_declared_operations_and_nothing_found_by_name() -> None:
    keys = MoreKeys()
    operations = bind(("GetKeyPolicy", "ListKeys"), keys)
    assert list(operations) == ["GetKeyPolicy", "ListKeys"]
    assert operations["GetKeyPolicy"] == keys.policy
    assert "DescribeKey" not in served_by(keys)


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (("ListKeys", "GetKeyPolicy", "CreateKey"), "declared but served by nothing: CreateKey"),
        (("ListKeys",), "served but not declared: GetKeyPolicy"),
        (("ListKeys", "GetKeyPolicy", "ListKeys"), "declared twice"),
    ],
)
def test_a_declaration_that_does_not_match_is_a_start_up_error(
    declared: tuple[str, ...], message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        bind(declared, MoreKeys())


def test_one_operation_served_twice_is_a_start_up_error() -> None:
    with pytest.raises(RegistryError, match="ListKeys is served by two services"):
        bind(("ListKeys",), Keys(), Keys())

    class Twice:
        @serves("ListKeys")
        async def one(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
            return {}

        @serves("ListKeys")
        async def other(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
            return {}

    with pytest.raises(RegistryError, match="served twice"):
        served_by(Twice())


def test_only_coroutines_serve() -> None:
    with pytest.raises(RegistryError, match="needs an async def"):

        class Blocking:
            # Deliberately not a coroutine, which the types forbid: the run-time check is tested.
            @serves("ListKeys")  # type: ignore[type-var]
            def list_keys(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
                return {}


def test_an_operation_the_model_lacks_is_a_start_up_error() -> None:
    operations = bind(("ListKeys", "ListKeyz"), _Typo())
    with pytest.raises(RegistryError, match="not operations of the kms model: ListKeyz"):
        Api(load_service_model("kms"), operations, internal_error="KMSInternalException")


class _Typo(Keys):
    @serves("ListKeyz")
    async def typo(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return {}


def test_the_declared_lists_are_operations_of_their_models() -> None:
    kms = load_service_model("kms").raw["operations"]
    cloudhsm = load_service_model("cloudhsmv2").raw["operations"]
    assert set(KMS_OPERATIONS) <= set(kms)
    assert set(CLOUDHSM_OPERATIONS) <= set(cloudhsm)
    assert set(ADMIN_OPERATIONS) == set(ADMIN_MODEL["operations"])
    assert set(DIAGNOSTICS_OPERATIONS) == set(DIAGNOSTICS_MODEL["operations"])


def test_the_server_binds_exactly_the_declared_operations(tmp_path: Path) -> None:
    process = build_process(ServeOptions(data_dir=str(tmp_path)))
    try:
        served = set(process.handler._routes)
    finally:
        process.store.close()
    assert served == {
        *(f"TrentService.{name}" for name in KMS_OPERATIONS),
        *(f"BaldrApiService.{name}" for name in CLOUDHSM_OPERATIONS),
        *(f"CksCloudHsmAdmin.{name}" for name in ADMIN_OPERATIONS),
        *(f"CksDiagnostics.{name}" for name in DIAGNOSTICS_OPERATIONS),
    }


def _answer(handler: RequestHandler, target: str) -> tuple[int, dict[str, Any]]:
    headers, body = signed(target, "test", "us-east-1", b'{"Limit": 5}')
    status, _, payload = asyncio.run(handler.handle("POST", "/", "", headers, body))
    return status, json.loads(payload)


def test_an_operation_the_model_names_but_nothing_serves_is_unknown() -> None:
    handler = RequestHandler(
        [
            Api(
                load_service_model("kms"),
                bind(("ListKeys",), Keys()),
                internal_error="KMSInternalException",
            )
        ],
        Authenticator([Credential("test", "s", "000000000000")], 300),
    )
    assert _answer(handler, "TrentService.ListKeys") == (200, {"Keys": [], "Truncated": False})
    assert _answer(handler, "TrentService.DescribeKey") == (
        400,
        {
            "__type": "UnknownOperationException",
            "message": "This server does not serve the operation DescribeKey.",
        },
    )
    status, error = _answer(handler, "TrentService.NoSuchOperation")
    assert (status, error["__type"]) == (400, "UnknownOperationException")
    assert "not known" in error["message"]
