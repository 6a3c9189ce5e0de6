"""NextToken encoding and the PageIterator algorithm (aws-cli-behaviour.md §3)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from kmscks.cli.errors import CLIError, PaginationError
from kmscks.cli.paginate import PageIterator, decode_token, encode_token

PAGINATOR = {
    "input_token": "Marker",
    "output_token": "NextMarker",
    "more_results": "Truncated",
    "limit_key": "Limit",
    "result_key": "CustomKeyStores",
}


def _marker(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


class FakeService:
    def __init__(self, count: int, repeat: bool = False) -> None:
        self.items = [{"CustomKeyStoreId": f"cks-{i}"} for i in range(count)]
        self.requests: list[dict[str, Any]] = []
        self.repeat = repeat

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(dict(params))
        offset = int(base64.b64decode(params["Marker"]).decode()[7:]) if "Marker" in params else 0
        limit = params.get("Limit", 1000)
        page = self.items[offset : offset + limit]
        truncated = offset + limit < len(self.items)
        body: dict[str, Any] = {"CustomKeyStores": page, "Truncated": truncated}
        if truncated:
            body["NextMarker"] = _marker(0 if self.repeat else offset + limit)
        return body


def _ids(result: dict[str, Any]) -> list[str]:
    return [item["CustomKeyStoreId"] for item in result["CustomKeyStores"]]


def test_token_examples_from_the_contract() -> None:
    assert (
        encode_token({"Marker": None, "boto_truncate_amount": 1})
        == "eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAxfQ=="
    )
    assert decode_token(
        "eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAxfQ==", ["Marker"]
    ) == (
        {"Marker": None},
        1,
    )


def test_undecodable_tokens_become_the_raw_marker_or_legacy_form() -> None:
    assert decode_token("garbage", ["Marker"]) == ({"Marker": "garbage"}, 0)
    assert decode_token("abc___2", ["Marker"]) == ({"Marker": "abc"}, 2)
    assert decode_token("abc___x", ["Marker"]) == ({"Marker": "abc___x"}, 0)
    with pytest.raises(CLIError, match="Bad starting token: a___b___c"):
        decode_token("a___b___c", ["Marker"])


@pytest.mark.parametrize(
    ("json_value", "type_name"),
    [("null", "NoneType"), ("5", "int"), ('"abc"', "str"), ("true", "bool"), ("1.5", "float")],
)
def test_tokens_of_json_scalars_fail_like_botocore(json_value: str, type_name: str) -> None:
    # aws-cli 2.33.31: TokenDecoder calls .pop() on the decoded value; exit 255 with the
    # AttributeError's text. A JSON list is a TypeError there, so the legacy form applies.
    token = base64.b64encode(json_value.encode()).decode()
    with pytest.raises(CLIError) as raised:
        decode_token(token, ["Marker"])
    assert str(raised.value) == f"'{type_name}' object has no attribute 'pop'"
    assert raised.value.rc == 255
    assert decode_token("W10=", ["Marker"]) == ({"Marker": "W10="}, 0)


def _token(result: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(result["NextToken"]))


@pytest.mark.parametrize(
    ("page_size", "max_items", "ids", "token"),
    [
        (None, 1, 1, {"Marker": None, "boto_truncate_amount": 1}),
        (2, 3, 3, {"Marker": _marker(2), "boto_truncate_amount": 1}),
        (2, 2, 2, {"Marker": _marker(2)}),
        (None, 0, 0, {"Marker": None, "boto_truncate_amount": 0}),
        (2, None, 5, None),
        (2, 5, 5, None),
    ],
)
def test_max_items_and_page_size(
    page_size: int | None, max_items: int | None, ids: int, token: Any
) -> None:
    service = FakeService(5)
    result = PageIterator(service, {}, PAGINATOR, page_size, max_items, None).build_full_result()
    assert _ids(result) == [f"cks-{i}" for i in range(ids)]
    assert (_token(result) if token else None) == token
    assert list(result) == ["CustomKeyStores", *(["NextToken"] if token else [])]
    if page_size:
        assert all(request["Limit"] == page_size for request in service.requests)
    else:
        assert all("Limit" not in request for request in service.requests)


def test_resuming_carries_the_skip_forward() -> None:
    start = encode_token({"Marker": None, "boto_truncate_amount": 2})
    result = PageIterator(FakeService(5), {}, PAGINATOR, None, 2, start).build_full_result()
    assert _ids(result) == ["cks-2", "cks-3"]
    assert _token(result) == {"Marker": None, "boto_truncate_amount": 4}


def test_page_requests_carry_limit_then_marker() -> None:
    service = FakeService(5)
    list(PageIterator(service, {"CustomKeyStoreName": "x"}, PAGINATOR, 1, None, None))
    assert service.requests[0] == {"CustomKeyStoreName": "x", "Limit": 1}
    assert [r.get("Marker") for r in service.requests] == [None, *(_marker(i) for i in range(1, 5))]
    assert len(service.requests) == 5


def test_a_repeated_marker_is_a_pagination_error() -> None:
    with pytest.raises(PaginationError, match="The same next token was received twice"):
        PageIterator(FakeService(5, repeat=True), {}, PAGINATOR, 1, None, None).build_full_result()


def test_empty_result() -> None:
    result = PageIterator(FakeService(0), {}, PAGINATOR, None, None, None).build_full_result()
    assert result == {"CustomKeyStores": []}
