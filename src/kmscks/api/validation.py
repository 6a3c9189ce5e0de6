"""Model-driven input validation with AWS's ValidationException wording.

api layer. A validator is compiled once per operation from the botocore input shape: required,
type, min/max length, full-match pattern, enum and integer range. Business rules never live
here. A wrong JSON type is a SerializationException (as AWS JSON services answer it); every
constraint failure becomes one item of a ValidationException message:

    1 validation error detected: Value '5000' at 'limit' failed to satisfy constraint:
    Member must have value less than or equal to 1000

Several failures are joined with "; " after "N validation errors detected: ". The value of a
sensitive member is never echoed ("Value at 'keyStorePassword' failed ...").

Blob members arrive as base64 text. After the checks, a second pass compiled only for shapes
that hold a blob (so other operations pay nothing) decodes them into `bytes` in the params the
service gets: invalid base64 is a SerializationException, and a blob's length constraints
apply to the decoded bytes. A map's keys and values that break their shape's constraints are
reported once per map, in AWS's wording: "Map keys must satisfy constraint: [every constraint
of the key shape]" (likewise "Map value"); a structure inside a map value is checked at
`<map>.<key>.member`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from kmscks.api.model import ServiceModel, Shape
from kmscks.errors import ServiceError

Check = Callable[[Any, str, list[str]], None]
# The blob pass: returns the value with its blobs decoded (containers are changed in place).
Decode = Callable[[Any, str, list[str]], Any]

_FAILED = " failed to satisfy constraint: "


_NO_NUL = "Member must not contain the character U+0000"


class _TypeMismatch(Exception):
    pass


def _compile_pattern(text: str) -> Any:
    """A model pattern, used as a full-string match (the contract, section 2).

    Model patterns are Java regular expressions: `\\d` means ASCII digits (so re.ASCII), and
    Unicode property classes such as `\\p{L}` need the `regex` module.
    """
    if "\\p{" in text:
        import regex

        return regex.compile(text)
    return re.compile(text, re.ASCII)


def validation_message(problems: list[str]) -> str:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(problems)


def _member_path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _problem(value: Any, path: str, sensitive: bool, constraint: str) -> str:
    if value is None:
        shown = "Value null"
    elif sensitive:
        shown = "Value"
    else:
        shown = f"Value '{_java_text(value)}'"
    return f"{shown} at '{path}'{_FAILED}{constraint}"


def _java_text(value: Any) -> str:
    """A value as AWS's (Java) services echo it: maps as {k=v, ...}, lists as [a, b]."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _constraints(shape: Shape) -> list[str]:
    """Every constraint of a shape in AWS's order, as a map lists those of its keys or values."""
    measure = "value" if shape["type"] in ("integer", "long") else "length"
    found = [constraint for _, constraint in reversed(_bounds(shape, measure))]
    if shape.get("pattern"):
        found.append(f"Member must satisfy regular expression pattern: {shape['pattern']}")
    if shape.get("enum"):
        found.append(f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]")
    return found


def _bounds(shape: Shape, measure: str) -> list[tuple[Callable[[int], bool], str]]:
    """The model's min and max as (is it broken?, AWS's wording) pairs; `measure` is the noun."""
    bounds: list[tuple[Callable[[int], bool], str]] = []
    minimum, maximum = shape.get("min"), shape.get("max")
    if minimum is not None:
        bounds.append(
            (
                lambda n: n < minimum,
                f"Member must have {measure} greater than or equal to {minimum}",
            )
        )
    if maximum is not None:
        bounds.append(
            (lambda n: n > maximum, f"Member must have {measure} less than or equal to {maximum}")
        )
    return bounds


class _Compiler:
    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self.cache: dict[str, Check] = {}
        self.decoders: dict[str, Decode | None] = {}

    def compile(self, shape_name: str) -> Check:
        if shape_name not in self.cache:
            # Placeholder first: recursive shapes refer to themselves.
            self.cache[shape_name] = lambda value, path, problems: self.cache[shape_name](
                value, path, problems
            )
            self.cache[shape_name] = self._build(self.model.shape(shape_name))
        return self.cache[shape_name]

    def _build(self, shape: Shape) -> Check:
        kind = shape["type"]
        builder = {
            "structure": self._structure,
            "string": self._string,
            "integer": self._integer,
            "long": self._integer,
            "boolean": self._boolean,
            "list": self._list,
            "map": self._map,
            "timestamp": self._timestamp,
            "blob": self._blob,
            "double": self._number,
            "float": self._number,
        }.get(kind)
        if builder is None:
            return lambda value, path, problems: None
        return builder(shape)

    def _structure(self, shape: Shape) -> Check:
        required = set(shape.get("required", ()))
        members = [
            (name, self.compile(spec["shape"]), name in required)
            for name, spec in shape.get("members", {}).items()
        ]

        def check(value: Any, path: str, problems: list[str]) -> None:
            if not isinstance(value, dict):
                raise _TypeMismatch(f"Expected an object at '{path or 'input'}'")
            if None in value.values():
                # AWS's JSON protocol reads a null member as an absent one. Dropped here, in
                # place, so no operation ever sees a None where the model has a value.
                for name in [name for name, member in value.items() if member is None]:
                    del value[name]
            for name, member_check, is_required in members:
                member_value = value.get(name)
                # Paths are built only when used: most members of most requests are absent.
                if member_value is None:
                    if is_required:
                        problems.append(
                            _problem(
                                None, _member_path(path, name), False, "Member must not be null"
                            )
                        )
                    continue
                member_check(member_value, _member_path(path, name), problems)

        return check

    def _string(self, shape: Shape) -> Check:
        sensitive = bool(shape.get("sensitive"))
        enum = shape.get("enum")
        pattern_text = shape.get("pattern")
        pattern = _compile_pattern(pattern_text) if pattern_text else None
        lengths = _bounds(shape, "length")

        def check(value: Any, path: str, problems: list[str]) -> None:
            if not isinstance(value, str):
                raise _TypeMismatch(f"Expected a string at '{path}'")
            if "\x00" in value:
                # PostgreSQL text cannot hold U+0000 and SQLite can: refused for every member so
                # both stores answer alike (docs/decisions.md).
                problems.append(_problem(value, path, True, _NO_NUL))
            if enum is not None and value not in enum:
                constraint = f"Member must satisfy enum value set: [{', '.join(enum)}]"
                problems.append(_problem(value, path, sensitive, constraint))
            for broken, constraint in lengths:
                if broken(len(value)):
                    problems.append(_problem(value, path, sensitive, constraint))
            if pattern is not None and not pattern.fullmatch(value):
                constraint = f"Member must satisfy regular expression pattern: {pattern_text}"
                problems.append(_problem(value, path, sensitive, constraint))

        return check

    def _integer(self, shape: Shape) -> Check:
        values = _bounds(shape, "value")

        def check(value: Any, path: str, problems: list[str]) -> None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _TypeMismatch(f"Expected an integer at '{path}'")
            for broken, constraint in values:
                if broken(value):
                    problems.append(_problem(value, path, False, constraint))

        return check

    def _boolean(self, shape: Shape) -> Check:
        def check(value: Any, path: str, problems: list[str]) -> None:
            if not isinstance(value, bool):
                raise _TypeMismatch(f"Expected a boolean at '{path}'")

        return check

    def _number(self, shape: Shape) -> Check:
        def check(value: Any, path: str, problems: list[str]) -> None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _TypeMismatch(f"Expected a number at '{path}'")

        return check

    _timestamp = _number

    def _blob(self, shape: Shape) -> Check:
        # Only the JSON type here; decoding and lengths are the blob pass's (`decoder`).
        def check(value: Any, path: str, problems: list[str]) -> None:
            if not isinstance(value, str):
                raise _TypeMismatch(f"Expected a base64 string at '{path}'")

        return check

    def _list(self, shape: Shape) -> Check:
        item = self.compile(shape["member"]["shape"])
        lengths = _bounds(shape, "length")

        def check(value: Any, path: str, problems: list[str]) -> None:
            if not isinstance(value, list):
                raise _TypeMismatch(f"Expected a list at '{path}'")
            for broken, constraint in lengths:
                if broken(len(value)):
                    problems.append(_problem(value, path, False, constraint))
            for index, element in enumerate(value, start=1):
                if element is None:
                    problems.append(
                        _problem(None, f"{path}.{index}.member", False, "Member must not be null")
                    )
                else:
                    item(element, f"{path}.{index}.member", problems)

        return check

    def _map(self, shape: Shape) -> Check:
        key_shape = self.model.shape(shape["key"]["shape"])
        key_check = self.compile(shape["key"]["shape"])
        value_shape = self.model.shape(shape["value"]["shape"])
        value_check = self.compile(shape["value"]["shape"])
        lengths = _bounds(shape, "length")
        sensitive = bool(
            shape.get("sensitive") or key_shape.get("sensitive") or value_shape.get("sensitive")
        )
        key_rule = f"Map keys must satisfy constraint: [{', '.join(_constraints(key_shape))}]"
        value_constraints = _constraints(value_shape)

        def check(value: Any, path: str, problems: list[str]) -> None:
            if not isinstance(value, dict):
                raise _TypeMismatch(f"Expected an object at '{path}'")
            for broken, constraint in lengths:
                if broken(len(value)):
                    problems.append(_problem(value, path, sensitive, constraint))
            bad_key = bad_value = null_value = False
            for key, element in value.items():
                scratch: list[str] = []
                key_check(key, path, scratch)
                bad_key = bad_key or bool(scratch)
                if element is None:
                    null_value = True
                    continue
                # A value's own constraints are reported for the map; deeper ones (members
                # of a structure value) at their own path.
                element_path = f"{path}.{key}.member"
                own = f" at '{element_path}'{_FAILED}"
                scratch = []
                value_check(element, element_path, scratch)
                for found in scratch:
                    if own in found:
                        bad_value = True
                    else:
                        problems.append(found)
            if bad_key:
                problems.append(_problem(value, path, sensitive, key_rule))
            if bad_value or null_value:
                listed = value_constraints + (["Member must not be null"] if null_value else [])
                rule = f"Map value must satisfy constraint: [{', '.join(listed)}]"
                problems.append(_problem(value, path, sensitive, rule))

        return check

    # -- the blob pass ------------------------------------------------------------------------

    def decoder(self, shape_name: str) -> Decode | None:
        """The blob pass of a shape, or None when the shape holds no blob at any depth."""
        if shape_name not in self.decoders:
            # Recursion: a shape that reaches itself holds a blob only through another member.
            self.decoders[shape_name] = None
            self.decoders[shape_name] = self._build_decoder(self.model.shape(shape_name))
        return self.decoders[shape_name]

    def _build_decoder(self, shape: Shape) -> Decode | None:
        kind = shape["type"]
        if kind == "blob":
            return _blob_decoder(shape)
        if kind == "structure":
            members = tuple(
                (name, decode)
                for name, spec in shape.get("members", {}).items()
                if (decode := self.decoder(spec["shape"])) is not None
            )
            if not members:
                return None

            def structure(value: Any, path: str, problems: list[str]) -> Any:
                for name, decode in members:
                    member_value = value.get(name)
                    if member_value is not None:
                        value[name] = decode(member_value, _member_path(path, name), problems)
                return value

            return structure
        if kind == "list":
            item = self.decoder(shape["member"]["shape"])
            if item is None:
                return None

            def items(value: Any, path: str, problems: list[str]) -> Any:
                for index, element in enumerate(value):
                    if element is not None:
                        value[index] = item(element, f"{path}.{index + 1}.member", problems)
                return value

            return items
        if kind == "map":
            entry = self.decoder(shape["value"]["shape"])
            if entry is None:
                return None

            def entries(value: Any, path: str, problems: list[str]) -> Any:
                for key, element in value.items():
                    if element is not None:
                        value[key] = entry(element, f"{path}.{key}.member", problems)
                return value

            return entries
        return None


def _blob_decoder(shape: Shape) -> Decode:
    sensitive = bool(shape.get("sensitive"))
    lengths = _bounds(shape, "length")

    def decode(value: Any, path: str, problems: list[str]) -> bytes:
        try:
            # Standard base64 with padding, as the SDKs send it (RFC 4648 section 4).
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _TypeMismatch(f"Value at '{path}' is not valid base64.")
        for broken, constraint in lengths:
            if broken(len(raw)):
                problems.append(_problem(raw, path, sensitive, constraint))
        return raw

    return decode


class InputValidator:
    """Validates the input of every operation of one service model."""

    def __init__(self, model: ServiceModel) -> None:
        self._compiler = _Compiler(model)
        self._model = model

    def for_operation(self, operation: str) -> Callable[[dict[str, Any]], None]:
        shape_name = self._model.input_shape_name(operation)
        check = self._compiler.compile(shape_name) if shape_name else None
        decode = self._compiler.decoder(shape_name) if shape_name else None

        def validate(params: dict[str, Any]) -> None:
            """Check `params`; blob members are replaced by their decoded bytes."""
            if check is None:
                return
            problems: list[str] = []
            try:
                check(params, "", problems)
                if decode is not None:
                    decode(params, "", problems)
            except _TypeMismatch as mismatch:
                raise ServiceError("SerializationException", str(mismatch))
            if problems:
                raise ServiceError("ValidationException", validation_message(problems))

        return validate
