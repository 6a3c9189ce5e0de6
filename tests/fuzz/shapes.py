"""Hypothesis strategies drawn from a botocore model's shapes: valid values and hostile ones.

Nothing here names an operation or a member: every value comes from the model, so an
operation added to the model (or to the server) is fuzzed without a change here.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from hypothesis import strategies as st

from kmscks.api.model import ServiceModel

Shape = dict[str, Any]

# Unicode the servers must survive: U+0000, other controls, a BOM, non-BMP characters, and
# lone surrogates (json.dumps escapes them as \ud800; a JSON parser must refuse them).
AWKWARD_TEXT = st.sampled_from(
    ["\x00", "a\x00b", "\x01\x1f\x7f", "\ufeff", "\U0001f511", "\ud800", "x\udc00y", "é" * 3]
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


class ShapeStrategies:
    """Builds (and caches) a strategy per shape of one model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self._valid: dict[str, st.SearchStrategy[Any]] = {}

    # -- valid values --------------------------------------------------------------------------

    def valid(self, shape_name: str) -> st.SearchStrategy[Any]:
        if shape_name not in self._valid:
            # Deferred: a recursive shape refers to its own strategy.
            self._valid[shape_name] = st.deferred(lambda: self._build(shape_name))
        return self._valid[shape_name]

    def _build(self, shape_name: str) -> st.SearchStrategy[Any]:
        shape = self.model.shape(shape_name)
        kind = shape["type"]
        if kind == "structure":
            return self._structure(shape)
        if kind == "string":
            return self._string(shape)
        if kind in ("integer", "long"):
            return st.integers(shape.get("min", -(2**31)), shape.get("max", 2**31 - 1))
        if kind == "boolean":
            return st.booleans()
        if kind in ("double", "float", "timestamp"):
            return st.floats(0, 2e9, allow_nan=False)
        if kind == "blob":
            low = int(shape.get("min", 0))
            high = int(min(shape.get("max", 64), 64))
            return st.binary(min_size=low, max_size=max(low, high)).map(
                lambda raw: base64.b64encode(raw).decode()
            )
        if kind == "list":
            low = int(shape.get("min", 0))
            high = max(low, int(min(shape.get("max", 3), 3)))
            return st.lists(self.valid(shape["member"]["shape"]), min_size=low, max_size=high)
        if kind == "map":
            return st.dictionaries(
                self.valid(shape["key"]["shape"]),
                self.valid(shape["value"]["shape"]),
                max_size=2,
            )
        return ANY_JSON

    def _structure(self, shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
        members = shape.get("members", {})
        required = set(shape.get("required", ()))
        fixed = {
            name: self.valid(spec["shape"]) for name, spec in members.items() if name in required
        }
        optional = {
            name: self.valid(spec["shape"])
            for name, spec in members.items()
            if name not in required
        }
        return st.fixed_dictionaries(fixed, optional=optional)

    def _string(self, shape: Shape) -> st.SearchStrategy[str]:
        if "enum" in shape:
            return st.sampled_from(shape["enum"])
        low = int(shape.get("min", 0))
        high = int(min(shape.get("max", 40), 300))
        pattern = shape.get("pattern")
        if pattern and "\\p{" not in pattern:
            try:
                compiled = re.compile(pattern, re.ASCII)
                return st.from_regex(compiled, fullmatch=True).filter(
                    lambda text: low <= len(text) <= max(low, high)
                )
            except (re.error, TypeError, ValueError):
                pass
        return st.text(
            st.characters(codec="utf-8", exclude_categories=["Cs"]),
            min_size=low,
            max_size=max(low, min(high, 40)),
        )

    # -- hostile values ------------------------------------------------------------------------

    def hostile(self, shape_name: str) -> st.SearchStrategy[Any]:
        """A value the shape does not allow: a wrong type, null, a bad length or character."""
        shape = self.model.shape(shape_name)
        kind = shape["type"]
        wrong_type = st.sampled_from(
            [None, True, 0, -1, 2**63, 1.5, "", "text", [], [None], {}, {"x": 1}]
        )
        options: list[st.SearchStrategy[Any]] = [wrong_type, ANY_JSON]
        if kind == "string":
            low, high = shape.get("min"), shape.get("max")
            if low:
                options.append(st.text(max_size=max(0, int(low) - 1)))
            if high is not None:
                options.append(st.just("x" * (int(high) + 1)))
            if "pattern" in shape or "enum" in shape:
                options.append(st.text(max_size=20))
            options.append(AWKWARD_TEXT)
            options.append(st.text(st.characters(codec="utf-8"), max_size=20))
        elif kind in ("integer", "long"):
            if "min" in shape:
                options.append(st.integers(max_value=int(shape["min"]) - 1))
            if "max" in shape:
                options.append(st.integers(min_value=int(shape["max"]) + 1))
            options.append(st.integers(min_value=2**64, max_value=2**70))
        elif kind == "list":
            options.append(st.lists(self.hostile(shape["member"]["shape"]), min_size=1, max_size=2))
            if "max" in shape:
                options.append(st.just([None] * (int(shape["max"]) + 1)))
        elif kind == "structure":
            options.append(self.mutated(shape_name))
        elif kind == "blob":
            options.append(st.sampled_from(["not base64!", "=", "\x00"]))
        return st.one_of(options)

    def mutated(self, shape_name: str) -> st.SearchStrategy[dict[str, Any]]:
        """A valid structure with one to three members broken, nulled, dropped or added."""
        return mutated_structure(self, shape_name)


@st.composite
def mutated_structure(draw: Any, strategies: ShapeStrategies, shape_name: str) -> dict[str, Any]:
    members = strategies.model.shape(shape_name).get("members", {})
    params = dict(draw(strategies.valid(shape_name)))
    names = sorted(members)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["hostile", "null", "drop", "unknown"]))
        if action == "unknown" or not names:
            params[draw(st.text(min_size=1, max_size=12))] = draw(ANY_JSON)
            continue
        name = draw(st.sampled_from(names))
        if action == "hostile":
            params[name] = draw(strategies.hostile(members[name]["shape"]))
        elif action == "null":
            params[name] = None
        else:
            params.pop(name, None)
    return params
