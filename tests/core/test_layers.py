"""The layer rules of docs/architecture.md, checked by import, transitively.

Each layer's modules are all imported in a fresh interpreter and the test looks at what got
loaded (sys.modules), so an import hidden two modules down breaks the rule as surely as a direct
one. A new module of a layer is covered without editing this file.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kmscks

BOTTOM = (
    "kmscks.errors",
    "kmscks.bounded",
    "kmscks.caller",
    "kmscks.registry",
    "kmscks.markers",
    "kmscks.wireform",
    "kmscks.config",
    "kmscks.logsetup",
)
SIGV4 = ("kmscks.sigv4", "kmscks.sigv4_sign")
TOP = ("kmscks.runtime", "kmscks.server", "kmscks.serverdata")
LAYERS = (
    "kmscks.api",
    "kmscks.service",
    "kmscks.store",
    "kmscks.connectors",
    "kmscks.cloudhsm",
    "kmscks.xksproxy",
    "kmscks.cli",
)

# What each layer (every module of a package) or module must never load, directly or not.
RULES: dict[str, tuple[str, ...]] = {
    # The bottom layer is the shared vocabulary: it loads no layer at all.
    **{module: LAYERS + TOP + SIGV4 for module in BOTTOM},
    **{module: LAYERS + TOP for module in SIGV4},
    "kmscks.api": (
        "kmscks.service",
        "kmscks.store",
        "kmscks.connectors",
        "kmscks.cloudhsm",
        "kmscks.xksproxy",
        "kmscks.cli",
        *TOP,
    ),
    "kmscks.service": ("kmscks.api", "kmscks.xksproxy", "kmscks.cli", *TOP),
    "kmscks.store": (
        "kmscks.api",
        "kmscks.service",
        "kmscks.connectors",
        "kmscks.cloudhsm",
        "kmscks.xksproxy",
        "kmscks.cli",
        *TOP,
    ),
    # connectors -> cloudhsm -> store: the CloudHSM checks read the control plane's tables.
    "kmscks.connectors": ("kmscks.api", "kmscks.service", "kmscks.xksproxy", "kmscks.cli", *TOP),
    # The XKS connector talks HTTP only.
    "kmscks.connectors.xks": ("kmscks.store", "kmscks.cloudhsm"),
    "kmscks.cloudhsm": (
        "kmscks.api",
        "kmscks.service",
        "kmscks.connectors",
        "kmscks.xksproxy",
        "kmscks.cli",
        *TOP,
    ),
    # `cks cloudhsm ...` is an HTTP client of the admin API, like `cks kms`.
    "kmscks.cloudhsm.admin_cli": ("kmscks.store", "kmscks.cloudhsm.control", "kmscks.markers"),
    # Separate programs: nothing of the KMS server.
    "kmscks.xksproxy": (
        "kmscks.api",
        "kmscks.service",
        "kmscks.store",
        "kmscks.connectors",
        "kmscks.cloudhsm",
        "kmscks.cli",
        *TOP,
    ),
    "kmscks.cli": (
        "kmscks.api",
        "kmscks.service",
        "kmscks.store",
        "kmscks.connectors",
        "kmscks.cloudhsm",
        "kmscks.xksproxy",
        *TOP,
    ),
    # `cks <command>` imports only the chosen command's module.
    "kmscks.main": LAYERS + TOP,
}

_LOADED = """
import importlib, json, pkgutil, sys
target = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(getattr(target, "__path__", []), target.__name__ + "."):
    importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(target: str) -> set[str]:
    """Every module a fresh interpreter holds after importing `target` and its submodules."""
    out = subprocess.run(
        [sys.executable, "-c", _LOADED, target], capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("target", sorted(RULES))
def test_a_layer_loads_nothing_it_must_not(target: str) -> None:
    loaded = loaded_by(target)
    broken = sorted(
        module
        for module in loaded
        for forbidden in RULES[target]
        if module == forbidden or module.startswith(forbidden + ".")
    )
    assert not broken, f"importing {target} loads {broken}"


def test_the_rules_cover_every_layer_and_bottom_module() -> None:
    """A new package or top-level module gets a rule here before it lands."""
    root = Path(kmscks.__file__).parent
    top_level = {
        f"kmscks.{path.stem}"
        for path in root.iterdir()
        if (path.suffix == ".py" and path.stem not in ("__init__", "__main__"))
        or (path / "__init__.py").exists()
    }
    assert top_level - set(RULES) - set(TOP) == set()


def test_the_check_sees_a_transitive_import() -> None:
    """The mechanism itself: importing the service loads the store two modules down."""
    loaded = loaded_by("kmscks.service.views")
    assert "kmscks.store.records" in loaded


_SQL = re.compile(r"\b(SELECT|INSERT INTO|DELETE FROM|UPDATE \w+ SET|WHERE)\b")


def test_sql_is_written_only_in_the_store_layer() -> None:
    """Other layers call the store's named queries; they never hand it SQL fragments."""
    root = Path(kmscks.__file__).parent
    found = [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in sorted(root.rglob("*.py"))
        if path.relative_to(root).parts[0] != "store"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _SQL.search(node.value)
    ]
    assert found == []
