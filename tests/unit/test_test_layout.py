"""The test tree's own rules: test modules import the kits, never another test module nor a conftest;
the shared kits are plugged in once, by ``pytest_plugins`` in tests/conftest.py; the packages never
import the test tree (a test helper lives under tests/, not in service/ or workers/)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def _from_the_test_tree(name: str) -> bool:
    top = name.split(".")[0]
    return top in {"tests", "conftest"} or top.startswith("test_")


def test_test_modules_import_only_kits_from_the_test_tree() -> None:
    bad = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in _imports(path)
        if _from_the_test_tree(name) and not name.startswith("tests.kits.")
    ]
    assert bad == []


def test_only_the_root_conftest_declares_pytest_plugins() -> None:
    declaring = [
        path.relative_to(TESTS).as_posix()
        for path in sorted(TESTS.rglob("*.py"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "pytest_plugins" for t in node.targets)
    ]
    assert declaring == ["conftest.py"]


def test_the_packages_never_import_the_test_tree() -> None:
    bad = [
        f"{path.relative_to(ROOT)}: {name}"
        for folder in ("service", "workers", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] == "tests"
    ]
    assert bad == []
