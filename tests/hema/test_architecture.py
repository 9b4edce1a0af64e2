"""The dependency rule of ARCHITECTURE.md, checked on the source: a lower app
never imports a higher one (it uses a string foreign key, an argument or a
signal instead)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "accounts": {"inventory", "pricing", "delivery", "orders", "simulation"},
    "inventory": {"pricing", "delivery", "orders", "simulation"},
    "pricing": {"delivery", "orders", "simulation"},
    "delivery": {"pricing", "orders", "simulation"},
    "orders": {"simulation"},
}


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_a_lower_app_never_imports_a_higher_one(app):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) & FORBIDDEN[app])
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {path: apps for path, apps in offenders.items() if apps} == {}
