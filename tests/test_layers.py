"""The packages import each other in one direction only; this test reads every import (ast), including those
under `TYPE_CHECKING` and inside functions, and fails on any edge the table below does not allow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What each layer may import, besides itself. Listed rather than derived from a single line because the
#: bus and the devices are deliberately side by side: the bus knows no hardware, devices know no MQTT.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "drivers": {"core", "config"},
    "services": {"core", "config", "drivers"},
    "devices": {"core", "config", "drivers", "services"},
    "simulators": {"core", "config", "drivers"},
    "bus": {"core", "config"},
    "web": {"core", "config", "services", "devices", "bus"},
    "daemon": {"core", "config", "drivers", "services", "devices", "simulators", "bus", "web"},
    # The district's server reads the contract, never the classroom's device code.
    "central": {"core", "config", "bus"},
}


def _imported_layers(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "classroomd":
                names = [f"classroomd.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "classroomd" and len(parts) > 1 and parts[1] in ALLOWED:
                found.append((node.lineno, parts[1]))
    return found


def _modules() -> list[tuple[str, Path]]:
    return [(layer, path) for layer in ALLOWED for path in sorted((ROOT / layer).rglob("*.py"))]


def test_every_layer_folder_exists_and_holds_modules() -> None:
    missing = [layer for layer in ALLOWED if layer != "central" and not (ROOT / layer / "__init__.py").exists()]
    assert not missing
    assert len(_modules()) > 50


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_may(layer: str) -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line} imports classroomd.{target}"
             for mod_layer, path in _modules() if mod_layer == layer
             for line, target in _imported_layers(path)
             if target != layer and target not in ALLOWED[layer]]
    assert not wrong, "\n".join(wrong)


def test_the_rule_sees_an_import_hidden_under_type_checking(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from classroomd.web.context import X\n"
                      "def f() -> None:\n    import classroomd.daemon.agent\n")
    assert _imported_layers(module) == [(3, "web"), (5, "daemon")]
