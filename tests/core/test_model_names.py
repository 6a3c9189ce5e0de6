"""Error names and enum values in src/ are the botocore models', never retyped by hand.

The source is scanned (ast), so new code is covered without editing this file: every string
literal that looks like an error name (`...Exception`) must be an error shape of the model its
layer answers for, or one of AWS's common errors; every upper-case word literal of the service
layer (states, store types, connectivity, connection error codes) must be a value of a model
enum, and the state machine's states must be exactly the model's ConnectionStateType.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import kmscks
from kmscks.api.model import load_service_model
from kmscks.cloudhsm.admin import ADMIN_MODEL
from kmscks.service.states import State

SRC = Path(kmscks.__file__).parent

# The errors every AWS JSON service answers without listing them in its model (protocol and
# authentication errors), as AWS's common-errors reference names them.
COMMON_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "SerializationException",
        "ThrottlingException",
        "UnknownOperationException",
        "UnrecognizedClientException",
        "ValidationException",
    }
)


def _errors(raw: dict) -> set[str]:
    return {name for name, shape in raw["shapes"].items() if shape.get("exception")}


KMS_ERRORS = _errors(load_service_model("kms").raw)
CLOUDHSM_ERRORS = _errors(load_service_model("cloudhsmv2").raw) | _errors(ADMIN_MODEL)

# The errorName values of the XKS proxy API (its specification, not a botocore model), which
# the KMS side's key client reads in proxy answers and maps to KMS errors; never answered as is.
XKS_PROXY_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "AuthenticationFailedException",
        "DependencyTimeoutException",
        "InternalException",
        "InvalidCiphertextException",
        "InvalidKeyUsageException",
        "InvalidStateException",
        "InvalidUriPathException",
        "KeyNotFoundException",
        "ThrottlingException",
        "UnsupportedOperationException",
        "ValidationException",
    }
)

# Which model's errors each part of the server may answer. The XKS proxy (its own API, from the
# XKS specification) and the CLI (it reads other services' errors to retry them) are not here.
ERRORS_BY_PART = {
    "api": COMMON_ERRORS,
    "service": KMS_ERRORS | COMMON_ERRORS,
    "connectors": KMS_ERRORS | COMMON_ERRORS | XKS_PROXY_ERRORS,
    "cloudhsm": CLOUDHSM_ERRORS | COMMON_ERRORS,
    "errors.py": KMS_ERRORS | COMMON_ERRORS,
    "runtime.py": KMS_ERRORS | CLOUDHSM_ERRORS | COMMON_ERRORS,
}
UNCHECKED_PARTS = {"xksproxy", "cli"}

_ERROR_NAME = re.compile(r"[A-Z][A-Za-z0-9]*Exception")
_ENUM_WORD = re.compile(r"[A-Z][A-Z0-9]*_?[A-Z0-9_]*")


def _literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal of a module (docstrings are expressions too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _part(path: Path) -> str:
    return path.relative_to(SRC).parts[0]


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_part_that_names_errors_is_assigned_a_model() -> None:
    naming = {
        _part(path)
        for path in _modules()
        if any(_ERROR_NAME.fullmatch(text) for _, text in _literals(path))
    }
    assert naming - set(ERRORS_BY_PART) - UNCHECKED_PARTS == set()


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(SRC)))
def test_error_names_are_the_models(path: Path) -> None:
    part = _part(path)
    if part in UNCHECKED_PARTS:
        return
    allowed = ERRORS_BY_PART.get(part, COMMON_ERRORS)
    unknown = [
        f"line {line}: {text}"
        for line, text in _literals(path)
        if _ERROR_NAME.fullmatch(text) and text not in allowed
    ]
    assert not unknown, f"not errors of the {part} model: {unknown}"


KMS_ENUM_VALUES = {
    value
    for shape in load_service_model("kms").raw["shapes"].values()
    for value in shape.get("enum", ())
}
# Upper-case words of the service layer that are not KMS values, each with its reason.
NOT_KMS_ENUMS = {
    "POST": "an HTTP method",
    # The health states of an XKS proxy (its GetHealthStatus API, not KMS's model).
    "ACTIVE": "an XKS proxy health state",
    "DEGRADED": "an XKS proxy health state",
    "UNAVAILABLE": "an XKS proxy health state",
    # The XKS proxy API's key metadata and algorithms, which the key client sends and checks.
    "ENCRYPT": "an XKS external key usage",
    "DECRYPT": "an XKS external key usage",
    "ENABLED": "an XKS external key status",
    "AES_GCM": "the XKS proxy API's encryption algorithm",
    "SHA_256": "the XKS proxy API's integrity value algorithm",
}


@pytest.mark.parametrize(
    "path",
    [path for path in _modules() if _part(path) in ("service", "connectors")],
    ids=lambda path: str(path.relative_to(SRC)),
)
def test_enum_words_of_the_service_layer_are_model_values(path: Path) -> None:
    unknown = [
        f"line {line}: {text}"
        for line, text in _literals(path)
        if _ENUM_WORD.fullmatch(text)
        and len(text) > 2
        and text not in KMS_ENUM_VALUES
        and text not in NOT_KMS_ENUMS
    ]
    assert not unknown, f"not values of a KMS model enum: {unknown}"


CLOUDHSM_ENUM_VALUES = {
    value
    for shape in load_service_model("cloudhsmv2").raw["shapes"].values()
    for value in shape.get("enum", ())
}
NOT_CLOUDHSM_ENUMS = {
    "POST": "an HTTP method",
    "AVAILABLE": "a subnet state of the admin API (cloudhsm/admin.py), not of cloudhsmv2",
    # The simulated HSM's failure kinds (cloudhsm/keys.py), mapped to KMS errors by the connector.
    **{
        kind: "a failure kind of the simulated HSM"
        for kind in (
            "UNREACHABLE",
            "NO_USER",
            "NO_SESSION",
            "KEY_NOT_FOUND",
            "LABEL_TAKEN",
            "TAG_MISMATCH",
        )
    },
}


@pytest.mark.parametrize(
    "path",
    # admin_cli.py is a command-line client: its upper-case words are argparse metavars.
    [path for path in _modules() if _part(path) == "cloudhsm" and path.stem != "admin_cli"],
    ids=lambda path: str(path.relative_to(SRC)),
)
def test_enum_words_of_the_cloudhsm_control_plane_are_model_values(path: Path) -> None:
    unknown = [
        f"line {line}: {text}"
        for line, text in _literals(path)
        if _ENUM_WORD.fullmatch(text)
        and len(text) > 2
        and text not in CLOUDHSM_ENUM_VALUES
        and text not in NOT_CLOUDHSM_ENUMS
    ]
    assert not unknown, f"not values of a cloudhsmv2 model enum: {unknown}"


def test_the_state_machine_has_exactly_the_models_states() -> None:
    shapes = load_service_model("kms").raw["shapes"]
    assert {state.value for state in State} == set(shapes["ConnectionStateType"]["enum"])


def test_the_scan_sees_what_it_must() -> None:
    """The scanner itself: it finds table entries and skips docstrings."""
    stores = SRC / "service" / "custom_key_stores.py"
    found = {text for _, text in _literals(stores)}
    assert "CustomKeyStoreHasCMKsException" in found
    assert not any(text.startswith("The six custom key store") for text in found)
    xks = {text for _, text in _literals(SRC / "connectors" / "xks.py")}
    assert "XKS_PROXY_TIMED_OUT" in xks
