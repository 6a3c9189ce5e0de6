"""The botocore service models, loaded at run time: the source of truth for the wire.

api layer. Gives operation names, input and output shapes, constraints and error shapes with
their HTTP status. Nothing here is hand-copied from a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.loaders

Shape = dict[str, Any]


@dataclass(frozen=True)
class ServiceModel:
    """One botocore service model (for example `kms`)."""

    name: str
    raw: dict[str, Any]

    @property
    def target_prefix(self) -> str:
        return str(self.raw["metadata"]["targetPrefix"])

    @property
    def signing_name(self) -> str:
        metadata = self.raw["metadata"]
        return str(metadata.get("signingName", metadata["endpointPrefix"]))

    def shape(self, name: str) -> Shape:
        return self.raw["shapes"][name]

    def operation(self, name: str) -> Shape:
        return self.raw["operations"][name]

    def input_shape_name(self, operation: str) -> str | None:
        spec = self.operation(operation).get("input")
        return spec["shape"] if spec else None

    def output_shape_name(self, operation: str) -> str | None:
        spec = self.operation(operation).get("output")
        return spec["shape"] if spec else None

    def error_status(self, code: str) -> int:
        """HTTP status of an error: the model's, else 500 for faults and 400 otherwise."""
        shape = self.raw["shapes"].get(code)
        if not shape or not shape.get("exception"):
            return 400
        status = shape.get("error", {}).get("httpStatusCode")
        if status:
            return int(status)
        return 500 if shape.get("fault") else 400


@cache
def load_service_model(service: str) -> ServiceModel:
    """Load the newest installed botocore model of `service` (cached per process)."""
    raw = botocore.loaders.Loader().load_service_model(service, "service-2")
    return ServiceModel(service, raw)
