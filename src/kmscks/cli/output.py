"""Printing results in every `--output` format, as awscli's formatters do.

Layer: cli. json (model order, indent 4, raw UTF-8), text (tab-separated, sorted scalar columns,
per page), table (table.py), yaml (ruamel safe dumper, sorted keys) and yaml-stream (each raw
page as a one-element list); `--query` goes to the merged result, or to each page for text and
yaml-stream (../shared/contract/aws-cli-behaviour.md §4-5). jmespath is imported only when
--query is used; YAML is written by yamlout.py. Must not import botocore or server code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from kmscks.cli.paginate import PageIterator


class Query:
    """A compiled --query expression (jmespath is imported only when one is given)."""

    def __init__(self, expression: str) -> None:
        import jmespath

        self.compiled = jmespath.compile(expression)

    def search(self, data: Any) -> Any:
        return self.compiled.search(data)


def _apply(query: Query | None, data: Any) -> Any:
    return query.search(data) if query is not None else data


# ---- text -----------------------------------------------------------------------------------


def format_text(
    item: Any, stream: TextIO, identifier: str | None = None, scalar_keys: list[str] | None = None
) -> None:
    if isinstance(item, dict):
        _text_dict(scalar_keys, item, identifier, stream)
    elif isinstance(item, list):
        _text_list(item, identifier, stream)
    else:
        stream.write(str(item))
        stream.write("\n")


def _text_list(item: list[Any], identifier: str | None, stream: TextIO) -> None:
    if not item:
        return
    if any(isinstance(element, dict) for element in item):
        keys = sorted(
            {
                k
                for element in item
                if isinstance(element, dict)
                for k, v in element.items()
                if not isinstance(v, dict | list)
            }
        )
        for element in item:
            format_text(element, stream, identifier, keys)
    elif any(isinstance(element, list) for element in item):
        scalars = [e for e in item if not isinstance(e, list | dict)]
        others = [e for e in item if isinstance(e, list | dict)]
        if scalars:
            _text_scalar_list(scalars, identifier, stream)
        for other in others:
            format_text(other, stream, identifier)
    else:
        _text_scalar_list(item, identifier, stream)


def _text_scalar_list(elements: list[Any], identifier: str | None, stream: TextIO) -> None:
    if identifier is not None:
        for element in elements:
            stream.write(f"{identifier.upper()}\t{element}\n")
    else:
        stream.write("\t".join(str(element) for element in elements))
        stream.write("\n")


def _text_dict(
    scalar_keys: list[str] | None, item: dict[str, Any], identifier: str | None, stream: TextIO
) -> None:
    scalars: list[str] = []
    non_scalars: list[tuple[str, Any]] = []
    if scalar_keys is None:
        for key, value in sorted(item.items()):
            if isinstance(value, dict | list):
                non_scalars.append((key, value))
            else:
                scalars.append(str(value))
    else:
        scalars = [str(item.get(key, "")) for key in scalar_keys]
        for key in sorted(set(item) - set(scalar_keys)):
            non_scalars.append((key, item[key]))
    if scalars:
        if identifier is not None:
            scalars.insert(0, identifier.upper())
        stream.write("\t".join(scalars))
        stream.write("\n")
    for key, value in non_scalars:
        format_text(value, stream, key)


# ---- yaml -----------------------------------------------------------------------------------


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, int | float | bool | str)


class YAMLDumper:
    """awscli's YAMLDumper: collections as YAML (yamlout.py), a scalar as JSON, because YAML
    would end a bare scalar with "..."."""

    def dump(self, value: Any, stream: TextIO) -> None:
        if _is_json_scalar(value):
            json.dump(value, stream, ensure_ascii=False)
            stream.write("\n")
        else:
            from kmscks.cli import yamlout

            yamlout.dump(value, stream)


# ---- dispatch -------------------------------------------------------------------------------


def write_response(
    fmt: str,
    operation: str,
    response: dict[str, Any] | PageIterator,
    query: Query | None,
    stream: TextIO,
    color: str,
    is_tty: bool,
) -> None:
    """Print a single response, or drive a paginated one, in the chosen format."""
    if fmt == "text":
        _write_text(response, query, stream)
        return
    if fmt == "yaml-stream":
        pages: Iterable[dict[str, Any]] = (
            response if isinstance(response, PageIterator) else [response]
        )
        dumper = None
        for page in pages:
            data = _apply(query, page)
            if not isinstance(response, PageIterator) and data == {}:
                return
            if dumper is None:
                dumper = YAMLDumper()
            dumper.dump([data], stream)
            stream.flush()
        return
    data = response.build_full_result() if isinstance(response, PageIterator) else response
    data = _apply(query, data)
    if fmt == "json":
        if data != {}:
            stream.write(json.dumps(data, indent=4, ensure_ascii=False))
            stream.write("\n")
    elif fmt == "yaml":
        if data != {}:
            YAMLDumper().dump(data, stream)
    elif fmt == "table":
        from kmscks.cli.table import render_table

        render_table(operation, data, color, stream, is_tty)


def _write_text(
    response: dict[str, Any] | PageIterator, query: Query | None, stream: TextIO
) -> None:
    if isinstance(response, PageIterator):
        key = response.result_key
        for page in response:
            # Each page is printed on its own: only the result key (the first page would also
            # carry non-aggregated members; this operation has none).
            format_text(_apply(query, {key: page.get(key)}), stream)
        if response.resume_token:
            format_text(_apply(query, {"NextToken": {"NextToken": response.resume_token}}), stream)
    else:
        format_text(_apply(query, response), stream)
