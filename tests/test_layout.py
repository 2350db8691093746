"""The layers hold: the import contract, no import dodging a circle, SQL only in the store, tests that stand alone."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("aidnet", "crypto")
SQL = re.compile(r"\b(INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|UPDATE\s+\w+\s+SET|PRAGMA\s+\w+)\b"
                 r"|\bSELECT\b.+\bFROM\b", re.IGNORECASE | re.DOTALL)


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (they may describe SQL; they do not run it)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_the_import_contract_holds() -> None:
    """pyproject.toml's contracts: the layers one way down, crypto pure, nothing below the web on Flask."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "broken" not in done.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_the_contract_can_fail(tmp_path: Path) -> None:
    """A store module that imported the web would be caught (the contract is not vacuous)."""
    config = (ROOT / "pyproject.toml").read_text()
    assert '"aidnet.web",' in config and '"aidnet.store",' in config
    layers = config[config.index("layers = [") : config.index("]", config.index("layers = ["))]
    assert layers.index('"aidnet.web"') < layers.index('"aidnet.store"')


def test_no_import_is_written_inside_a_function() -> None:
    """A circle of imports means a piece is in the wrong layer; an import inside a function hides one."""
    found = []
    for path in _python_files(*SOURCES):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {id(x) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
                     for x in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [f"{path.relative_to(ROOT)}:{x.lineno}" for x in ast.walk(node)
                          if isinstance(x, ast.Import | ast.ImportFrom) and id(x) not in type_only]
    assert found == []


def test_sql_is_written_only_in_the_store() -> None:
    found = []
    for path in _python_files(*SOURCES):
        if path.is_relative_to(ROOT / "aidnet" / "store"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        found += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                  and SQL.search(node.value)]
    assert found == []


def test_every_layer_says_what_it_may_import_and_never_does() -> None:
    for package in ("store", "sealing", "records", "decisions", "exports", "web", "serve", "cli"):
        doc = importlib.import_module(f"aidnet.{package}").__doc__ or ""
        assert "May import" in doc and "Never" in doc, package


def test_tests_stand_alone() -> None:
    """No test module imports another, or conftest; no test reaches into a private name of the code."""
    found = []
    for path in _python_files("tests", "bench"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules: set[str] = set()  # local names bound to modules of aidnet or crypto
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in ("conftest",) or node.module.startswith("test_"):
                    found.append(f"{path.name}:{node.lineno} imports {node.module}")
                if node.module.split(".")[0] in SOURCES:
                    for alias in node.names:
                        if alias.name.startswith("_"):
                            found.append(f"{path.name}:{node.lineno} imports {alias.name}")
                        modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in ("conftest",) or alias.name.startswith("test_"):
                        found.append(f"{path.name}:{node.lineno} imports {alias.name}")
                    if alias.name.split(".")[0] in SOURCES:
                        modules.add((alias.asname or alias.name).split(".")[0])
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in modules):
                found.append(f"{path.name}:{node.lineno} reads {node.value.id}.{node.attr}")
    assert found == []
