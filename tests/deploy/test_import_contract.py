"""The layering contract that `make lint` checks (import-linter, configured in pyproject.toml) holds
for the code as it is, and breaks, naming the contract, when a forbidden import is added.

The check runs on a copy of the packages' Python files, so the broken variants never touch the tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.procs

ROOT = Path(__file__).resolve().parents[2]
LAYERS = "Entry points over two independent sides over one core"
NO_MODELS = "The core and the HTTP side never load the models"


def copy_tree(dest: Path) -> Path:
    for package in ("service", "workers"):
        shutil.copytree(
            ROOT / package,
            dest / package,
            ignore=lambda _dir, names: [n for n in names if not (n.endswith(".py") or "." not in n)],
        )
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def add_import(path: Path, line: str) -> None:
    text = path.read_text(encoding="utf-8")
    marker = "from __future__ import annotations\n"
    assert marker in text
    path.write_text(text.replace(marker, marker + line + "\n", 1), encoding="utf-8")


def test_the_tree_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{LAYERS} KEPT" in result.stdout
    assert f"{NO_MODELS} KEPT" in result.stdout


def test_the_http_side_importing_the_worker_side_breaks_the_layers_contract(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    add_import(tree / "service" / "http" / "app.py", "import workers.run  # the forbidden direction")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert f"{LAYERS} BROKEN" in result.stdout
    assert "service.http.app -> workers.run" in result.stdout


def test_the_worker_side_importing_the_http_side_breaks_the_layers_contract(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    add_import(tree / "workers" / "policy.py", "import service.http.app  # the forbidden direction")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert f"{LAYERS} BROKEN" in result.stdout


def test_the_core_loading_torch_breaks_the_no_models_contract(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    add_import(tree / "service" / "core" / "keys.py", "import torch  # a model library in the core")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert f"{NO_MODELS} BROKEN" in result.stdout
