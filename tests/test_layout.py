"""The layout's promises, kept by a test rather than by memory: short functions, and no path tricks.

Every consumer (the CDK app, the tools, the benchmark, the tests) imports the function's package by name,
because it is installed (pyproject.toml); a `sys.path` edit would hide a packaging mistake until a user's
fresh clone met it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("lambda_src", "infra", "tools", "bench")
LONGEST_FUNCTION = 60


def source_files() -> list[Path]:
    files = [path for folder in SOURCE_DIRS for path in (ROOT / folder).rglob("*.py")]
    return sorted([ROOT / "app.py", *files])


def test_the_layout_has_source_to_check() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in source_files()}
    assert {"app.py", "lambda_src/imagery_archive/function.py", "infra/stack.py", "tools/demo.py"} <= names


@pytest.mark.parametrize("path", source_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_function_is_longer_than_a_screen(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))
    long = {
        f"{node.name} (line {node.lineno})": node.end_lineno - node.lineno + 1
        for node in functions
        if node.end_lineno is not None and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
    }
    assert not long, f"functions over {LONGEST_FUNCTION} lines: split them: {long}"


@pytest.mark.parametrize("path", source_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_nothing_edits_the_import_path(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    edits = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    ]
    assert not edits, f"sys.path used at lines {edits}: import the installed package instead"
