"""Output formats from responses built in the contract's wire form (aws-cli-behaviour.md §2, §5).

The byte-for-byte comparison with `aws` is in test_compare_*.py; these pin the documented
rules directly: empty results, timestamps, column unions per page, the table's title box,
vertical layout and colour codes, YAML quoting.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from kmscks.cli import spec, yamlout
from kmscks.cli.output import Query, write_response
from kmscks.cli.paginate import PageIterator
from kmscks.cli.shaping import iso_timestamp, shape_value

PAGINATOR = spec.operation("describe-custom-key-stores")["paginator"]
OUTPUT_SHAPE = spec.operation("describe-custom-key-stores")["output"]


def store(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "CustomKeyStoreId": f"cks-{n:017x}",
        "CustomKeyStoreName": f"store-{n}",
        "ConnectionState": "DISCONNECTED",
        "CreationDate": 1709631015.25 + n,
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        **extra,
    }


def pages_of(stores: list[dict[str, Any]], size: int, max_items: int | None = None) -> PageIterator:
    def call(params: dict[str, Any]) -> dict[str, Any]:
        offset = int(params.get("Marker", "0"))
        page = stores[offset : offset + size]
        body: dict[str, Any] = {"CustomKeyStores": page, "Truncated": offset + size < len(stores)}
        if body["Truncated"]:
            body["NextMarker"] = str(offset + size)
        return shape_value(body, OUTPUT_SHAPE, "iso8601")

    return PageIterator(call, {}, PAGINATOR, None, max_items, None)


def render(fmt: str, response: Any, query: str | None = None, color: str = "off") -> str:
    out = io.StringIO()
    write_response(
        fmt, "DescribeCustomKeyStores", response, Query(query) if query else None, out, color, False
    )
    return out.getvalue()


def test_empty_result_in_every_format() -> None:
    assert render("json", pages_of([], 5)) == '{\n    "CustomKeyStores": []\n}\n'
    assert render("text", pages_of([], 5)) == ""
    assert render("table", pages_of([], 5)) == (
        "-------------------------\n|DescribeCustomKeyStores|\n+-----------------------+\n"
    )
    assert render("yaml", pages_of([], 5)) == "CustomKeyStores: []\n"
    assert render("yaml-stream", pages_of([], 5)) == "- CustomKeyStores: []\n  Truncated: false\n"


@pytest.mark.parametrize(
    ("tz", "value", "expected"),
    [
        ("UTC", 1709631015.25, "2024-03-05T09:30:15.250000+00:00"),
        ("UTC", 1709631015, "2024-03-05T09:30:15+00:00"),
        ("America/Los_Angeles", 1709631015.25, "2024-03-05T01:30:15.250000-08:00"),
    ],
)
def test_timestamps_are_local_iso8601(
    tz: str, value: float, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        assert iso_timestamp(value) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


def test_wire_timestamps_stay_numbers_and_model_order_wins() -> None:
    raw = {
        "Truncated": False,
        "CustomKeyStores": [{"CreationDate": 1709631015.25, "CustomKeyStoreId": "a", "Unknown": 1}],
    }
    shaped = shape_value(raw, OUTPUT_SHAPE, "wire")
    assert json.dumps(shaped) == (
        '{"CustomKeyStores": [{"CustomKeyStoreId": "a", "CreationDate": 1709631015.25}], '
        '"Truncated": false}'
    )


def test_json_multi_page_with_next_token() -> None:
    text = render("json", pages_of([store(i) for i in range(5)], 2, max_items=3))
    data = json.loads(text)
    assert [s["CustomKeyStoreName"] for s in data["CustomKeyStores"]] == [
        "store-0",
        "store-1",
        "store-2",
    ]
    assert list(data) == ["CustomKeyStores", "NextToken"]
    assert text.endswith("\n}\n") and "    " in text


def test_text_columns_are_the_union_per_page() -> None:
    failed = store(1, ConnectionState="FAILED", ConnectionErrorCode="NETWORK_ERRORS")
    lines = render("text", pages_of([store(0), failed, store(2)], 2)).splitlines()
    # Page 1 has a FAILED store, so its rows carry a ConnectionErrorCode column (empty for
    # store-0); page 2 does not.
    assert lines[0].split("\t")[:3] == ["CUSTOMKEYSTORES", "", "DISCONNECTED"]
    assert lines[1].split("\t")[:3] == ["CUSTOMKEYSTORES", "NETWORK_ERRORS", "FAILED"]
    assert lines[2].split("\t")[:2] == ["CUSTOMKEYSTORES", "DISCONNECTED"]


def test_text_next_token_row_and_per_page_query() -> None:
    stores = [store(i) for i in range(5)]
    assert (
        render("text", pages_of(stores, 2, max_items=3)).splitlines()[-1].startswith("NEXTTOKEN\t")
    )
    assert (
        render("text", pages_of(stores, 2), "CustomKeyStores[0].CustomKeyStoreName")
        == "store-0\nstore-2\nstore-4\n"
    )
    assert (
        render("json", pages_of(stores, 2), "CustomKeyStores[0].CustomKeyStoreName")
        == '"store-0"\n'
    )
    assert render("text", pages_of(stores, 2), "Nothing") == "None\nNone\nNone\n"
    assert render("json", pages_of(stores, 2), "Nothing") == "null\n"


def test_yaml_sorts_keys_and_quotes_timestamps_and_numbers() -> None:
    text = render(
        "yaml",
        {
            "CustomKeyStores": [
                shape_value(
                    store(0, XksProxyConfiguration={"VpcEndpointServiceOwner": "000000000000"}),
                    OUTPUT_SHAPE["members"][0][1]["member"],
                    "iso8601",
                )
            ]
        },
    )
    assert text.splitlines()[:3] == [
        "CustomKeyStores:",
        "- ConnectionState: DISCONNECTED",
        "  CreationDate: '2024-03-05T09:30:15.250000+00:00'",
    ]
    assert "    VpcEndpointServiceOwner: '000000000000'" in text


def test_yaml_multiline_strings_are_single_quoted_with_blank_lines() -> None:
    out = io.StringIO()
    yamlout.dump({"PEM": "a\nb\n"}, out)
    assert out.getvalue() == "PEM: 'a\n\n  b\n\n  '\n"


# Expected bytes from aws-cli 2.33.31 (its YAMLDumper: ruamel.yaml 0.17.21 with the libyaml
# CEmitter), run on the same values.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"K": "a\U0001f600b"}, 'K: "a\\U0001F600b"\n'),  # beyond the BMP: not printable
        ({"L": ["\U0001f600", {"N": "x"}]}, 'L:\n- "\\U0001F600"\n- N: x\n'),
        ({"K": "a\x85b"}, 'K: "a\\Nb"\n'),  # NEL: not printable either
        ({"K": "名前 ≠ ümlaut"}, "K: 名前 ≠ ümlaut\n"),
        ({"a\nb": None}, "? 'a\n\n  b'\n: null\n"),  # a key with a line break is complex
        ({"x\u2028y": {}}, "? 'x\u2028  y'\n: {}\n"),
        ({"\r": 1}, '? "\\r"\n: 1\n'),
        ({"k" * 129: ["a", "b"]}, "? " + "k" * 129 + "\n: - a\n  - b\n"),  # > 128 bytes
        ({"é" * 64 + "x": {"x": 1}}, "? " + "é" * 64 + "x\n: x: 1\n"),  # 129 bytes of UTF-8
        ({"k" * 128: 1}, "k" * 128 + ": 1\n"),
    ],
)
def test_yaml_follows_libyaml_for_printable_characters_and_complex_keys(
    value: dict[str, Any], expected: str
) -> None:
    out = io.StringIO()
    yamlout.dump(value, out)
    assert out.getvalue() == expected


def test_null_members_are_dropped_and_iso_timestamp_strings_reformatted() -> None:
    # aws-cli 2.33.31: botocore's JSON parser skips members sent as null; a timestamp sent as
    # an ISO 8601 string is parsed (dateutil) and printed with isoformat() in its own offset.
    shape = spec.operation("describe-key")["output"]
    raw = {
        "KeyMetadata": {
            "KeyId": "k",
            "Description": None,
            "Enabled": None,
            "CreationDate": "2024-03-05T09:30:15Z",
            "DeletionDate": "2024-03-05T09:30:15.5+05:30",
        }
    }
    assert shape_value(raw, shape, "iso8601") == {
        "KeyMetadata": {
            "KeyId": "k",
            "CreationDate": "2024-03-05T09:30:15+00:00",
            "DeletionDate": "2024-03-05T09:30:15.500000+05:30",
        }
    }
    assert shape_value(raw, shape, "wire")["KeyMetadata"]["CreationDate"] == "2024-03-05T09:30:15Z"


def test_yaml_scalars_are_written_as_json() -> None:
    assert render("yaml", {"CustomKeyStores": []}, "length(CustomKeyStores)") == "0\n"
    assert (
        render(
            "yaml",
            {"CustomKeyStores": [{"CustomKeyStoreName": "x"}]},
            "CustomKeyStores[0].CustomKeyStoreName",
        )
        == '"x"\n'
    )


def test_yaml_stream_prints_raw_pages_without_next_token() -> None:
    text = render("yaml-stream", pages_of([store(i) for i in range(3)], 2, max_items=1))
    assert "NextToken" not in text
    assert "NextMarker: '2'" in text and "Truncated: true" in text


def test_table_turns_vertical_when_wider_than_80() -> None:
    text = render("table", pages_of([store(0)], 5))
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "||  CustomKeyStoreId   |  cks-00000000000000000             ||" in text.splitlines()
    narrow = render("table", {"CustomKeyStores": [{"A": "x", "B": "y"}]})
    assert narrow.splitlines()[5:8] == [
        "||    A    |     B     ||",
        "|+---------+-----------+|",
        "||  x      |  y        ||",
    ]


def test_table_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    to_pager = render("table", {"CustomKeyStores": [{"A": "x", "B": "y"}]}, color="on")
    assert "\x1b[1m\x1b[34mx\x1b[0m" in to_pager and to_pager.endswith("\x1b[0m\n")
    # On stdout, colorama's autoreset adds a reset after every write.
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    response = {"CustomKeyStores": [{"A": "x", "B": "y"}]}
    write_response("table", "DescribeCustomKeyStores", response, None, stdout, "on", False)
    text = stdout.getvalue()
    assert not text.endswith("\n") and text.endswith("\x1b[0m")
    assert text.splitlines()[1].startswith("\x1b[0m")


def test_empty_output_operations_print_nothing() -> None:
    for fmt in ("json", "text", "table", "yaml", "yaml-stream"):
        assert render(fmt, {}) == ""
