"""CLI pagination exactly as botocore's PageIterator drives it under the AWS CLI.

Layer: cli. `--page-size` becomes the limit key on every request, `--max-items` cuts a page and
leaves a resume token, and NextToken is base64 of `json.dumps({"Marker": ...,
"boto_truncate_amount": k})`, so tokens from `aws` work here and the other way round
(../shared/contract/aws-cli-behaviour.md §3). Must not import botocore or server code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

from kmscks.cli.errors import CLIError, PaginationError

Page = dict[str, Any]


def encode_token(token: dict[str, Any]) -> str:
    """botocore's TokenEncoder for string markers: base64 of json.dumps with default separators."""
    return base64.b64encode(json.dumps(token).encode("utf-8")).decode("utf-8")


def decode_token(token: str, input_tokens: list[str]) -> tuple[dict[str, Any], int]:
    """The marker(s) to send and the number of items to skip on the first page.

    A token that is not base64 JSON falls back to botocore's legacy `marker___skip` form, and
    anything else is sent as the raw marker (so the server, not the CLI, rejects garbage).
    """
    try:
        decoded = json.loads(base64.b64decode(token.encode("utf-8")).decode("utf-8"))
        # botocore's TokenDecoder calls decoded.pop("boto_encoded_keys", None): a TypeError
        # for a list (so the legacy form is tried), an AttributeError that ends the run for
        # any other JSON value but an object (aws-cli 2.33.31: `bnVsbA==`, i.e. null).
        if isinstance(decoded, list):
            raise TypeError("not a token object")
        if not isinstance(decoded, dict):
            raise CLIError(f"'{type(decoded).__name__}' object has no attribute 'pop'")
        decoded.pop("boto_encoded_keys", None)
        skip: Any = decoded.pop("boto_truncate_amount", 0)
        return decoded, skip
    except (ValueError, TypeError):
        return _decode_legacy_token(token, input_tokens)


def _decode_legacy_token(token: str, input_tokens: list[str]) -> tuple[dict[str, Any], int]:
    parts = token.split("___")
    skip = 0
    if len(parts) == len(input_tokens) + 1:
        try:
            skip = int(parts.pop())
        except ValueError:
            parts = [token]
    values: list[str | None] = [None if part == "None" else part for part in parts]
    if len(values) > len(input_tokens):
        raise CLIError(f"Bad starting token: {token}")
    values.extend([None] * (len(input_tokens) - len(values)))
    return dict(zip(input_tokens, values, strict=True)), skip


class PageIterator:
    """Yields each page (already cut by --starting-token skip or --max-items), then sets
    `resume_token` (the encoded NextToken) when the output stops early."""

    def __init__(
        self,
        call: Callable[[dict[str, Any]], Page],
        params: dict[str, Any],
        paginator: dict[str, Any],
        page_size: int | None,
        max_items: int | None,
        starting_token: str | None,
    ) -> None:
        self._call = call
        self._params = dict(params)
        self._input_token = paginator["input_token"]
        self._output_token = paginator["output_token"]
        self._more_results = paginator.get("more_results")
        self._limit_key = paginator.get("limit_key")
        self.result_key: str = paginator["result_key"]
        self._page_size = page_size
        self._max_items = max_items
        self._starting_token = starting_token
        self.resume_token: str | None = None

    def _inject(self, params: dict[str, Any], token: dict[str, Any]) -> None:
        for name, value in token.items():
            if value is not None and value != "None":
                params[name] = value
            elif name in params:
                del params[name]

    def _next_token(self, page: Page) -> dict[str, Any]:
        if self._more_results is not None and not page.get(self._more_results):
            return {}
        value = page.get(self._output_token)
        return {self._input_token: value if value else None}

    def __iter__(self) -> Iterator[Page]:
        params = self._params
        next_token: dict[str, Any] = {self._input_token: None}
        skip = 0
        if self._starting_token is not None:
            next_token, skip = decode_token(self._starting_token, [self._input_token])
            self._inject(params, next_token)
        if self._page_size is not None and self._limit_key:
            params[self._limit_key] = self._page_size
        previous: dict[str, Any] | None = None
        total = 0
        first = True
        key = self.result_key
        while True:
            page = self._call(params)
            starting_truncation = 0
            if first:
                first = False
                if self._starting_token is not None:
                    starting_truncation = skip
                    items = page.get(key)
                    if isinstance(items, list | str):
                        page[key] = items[skip:]
            items = page.get(key) or []
            cut = 0
            if self._max_items is not None:
                cut = total + len(items) - self._max_items
            if cut > 0:
                keep = len(items) - cut
                page[key] = items[:keep]
                next_token["boto_truncate_amount"] = keep + starting_truncation
                self.resume_token = encode_token(next_token)
                yield page
                return
            yield page
            total += len(items)
            next_token = self._next_token(page)
            if all(value is None for value in next_token.values()):
                return
            if self._max_items is not None and total == self._max_items:
                self.resume_token = encode_token(next_token)
                return
            if previous is not None and previous == next_token:
                raise PaginationError(
                    f"Error during pagination: The same next token was received twice: {next_token}"
                )
            self._inject(params, next_token)
            previous = next_token

    def build_full_result(self) -> Page:
        """The merged result: only the result key (and NextToken), like build_full_result."""
        merged: Page = {}
        for page in self:
            items = page.get(self.result_key)
            if items is None:
                continue
            if self.result_key in merged:
                merged[self.result_key].extend(items)
            else:
                merged[self.result_key] = list(items)
        if self.resume_token is not None:
            merged["NextToken"] = self.resume_token
        return merged
