"""Model-driven output serialization for AWS JSON 1.1.

api layer. A serializer is compiled once per output shape: members not in the model and absent
(None) members omitted (never null), timestamps as epoch seconds (a JSON number), blobs (the
service's `bytes`) as standard base64 text, booleans and maps as JSON gives them. A WireForm
(kmscks.wireform) is passed through as its builder made it. Member order on the wire is the
service's: JSON objects are unordered, botocore and the SDKs read members by name, and the AWS
CLI prints them in model order whatever the wire order.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kmscks.api.model import ServiceModel
from kmscks.wireform import WireForm

Serializer = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _timestamp(value: Any) -> float | int:
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _blob(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _structure(
    names: frozenset[str], conversions: tuple[tuple[str, Serializer], ...]
) -> Serializer:
    """A structure's serializer: `conversions` are the members whose shape needs converting."""

    def structure(value: dict[str, Any]) -> dict[str, Any]:
        if type(value) is WireForm:
            return value  # its builder answers for the form (kmscks.wireform)
        # Services mostly return the wire form already (no None, no extra member): then two
        # checks in C let the value pass, copied only if a conversion changes a member,
        # instead of rebuilding it member by member.
        out = value
        if None in value.values() or not value.keys() <= names:
            out = {name: item for name, item in value.items() if item is not None and name in names}
        for name, convert in conversions:
            item = out.get(name)
            if item is not None:
                converted = convert(item)
                if converted is not item:
                    if out is value:
                        out = dict(value)
                    out[name] = converted
        return out

    return structure


class OutputSerializer:
    """Compiles and caches one serializer per shape of a service model."""

    def __init__(self, model: ServiceModel) -> None:
        self._model = model
        self._cache: dict[str, Serializer] = {}

    def for_operation(self, operation: str) -> Callable[[dict[str, Any] | None], dict[str, Any]]:
        shape_name = self._model.output_shape_name(operation)
        serializer = self.compile(shape_name) if shape_name else None

        def serialize(result: dict[str, Any] | None) -> dict[str, Any]:
            if serializer is None or result is None:
                return {}
            return serializer(result)

        return serialize

    def compile(self, shape_name: str) -> Serializer:
        if shape_name not in self._cache:
            self._cache[shape_name] = lambda value: self._cache[shape_name](value)
            self._cache[shape_name] = self._build(shape_name)
        return self._cache[shape_name]

    def _build(self, shape_name: str) -> Serializer:
        shape = self._model.shape(shape_name)
        kind = shape["type"]
        if kind == "structure":
            return _structure(
                frozenset(shape.get("members", {})),
                tuple(
                    (name, serializer)
                    for name, spec in shape.get("members", {}).items()
                    for serializer in (self.compile(spec["shape"]),)
                    if serializer is not _identity
                ),
            )
        if kind == "list":
            item_serializer = self.compile(shape["member"]["shape"])
            if item_serializer is _identity:
                return list
            return lambda value: [item_serializer(item) for item in value]
        if kind == "map":
            value_serializer = self.compile(shape["value"]["shape"])
            if value_serializer is _identity:
                return dict
            return lambda value: {key: value_serializer(item) for key, item in value.items()}
        if kind == "timestamp":
            return _timestamp
        if kind == "blob":
            return _blob
        return _identity
