"""Model-driven output serialization for AWS JSON 1.1.

api layer. A serializer is compiled once per output shape: members in model order, absent
(None) members omitted (never null), timestamps as epoch seconds (a JSON number).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kmscks.api.model import ServiceModel

Serializer = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _timestamp(value: Any) -> float | int:
    if isinstance(value, datetime):
        return value.timestamp()
    return value


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
            # Members that need no conversion are copied without a call: on a 100-store page
            # a call per member and store was most of the serialization time (bench/).
            members = tuple(
                (name, None if serializer is _identity else serializer)
                for name, spec in shape.get("members", {}).items()
                for serializer in (self.compile(spec["shape"]),)
            )

            def structure(value: dict[str, Any]) -> dict[str, Any]:
                out = {}
                get = value.get
                for name, member in members:
                    item = get(name)
                    if item is not None:
                        out[name] = item if member is None else member(item)
                return out

            return structure
        if kind == "list":
            item_serializer = self.compile(shape["member"]["shape"])
            if item_serializer is _identity:
                return list
            return lambda value: [item_serializer(item) for item in value]
        if kind == "map":
            value_serializer = self.compile(shape["value"]["shape"])
            return lambda value: {key: value_serializer(item) for key, item in value.items()}
        if kind == "timestamp":
            return _timestamp
        return _identity
