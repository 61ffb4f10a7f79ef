"""The layout's promises, kept by a test rather than by memory: short functions, no path tricks, every package
installed, and tests that mirror the runtime's layers. (Which layer may import which is import-linter's job:
`make lint`, contracts in pyproject.toml.)

Every consumer (the CDK app, the tools, the benchmark, the tests) imports the function's package by name,
because it is installed (pyproject.toml); a `sys.path` edit would hide a packaging mistake until a user's
fresh clone met it.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("lambda_src", "imagery_archive_cli", "infra", "bench")
RUNTIME = ROOT / "lambda_src" / "imagery_archive"
LONGEST_FUNCTION = 60


def source_files() -> list[Path]:
    files = [path for folder in SOURCE_DIRS for path in (ROOT / folder).rglob("*.py")]
    return sorted([ROOT / "app.py", *files])


def test_the_layout_has_source_to_check() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in source_files()}
    assert {
        "app.py",
        "lambda_src/imagery_archive/entrypoints/lambda_function.py",
        "infra/stack.py",
        "imagery_archive_cli/main.py",
    } <= names


def package_names(folder: Path, name: str) -> set[str]:
    """The dotted names of `folder` (a package called `name`) and of every package folder under it."""
    inits = folder.rglob("__init__.py")
    return {".".join([name, *init.parent.relative_to(folder).parts]) for init in inits}


def test_every_package_folder_is_installed_and_every_installed_package_exists() -> None:
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = (
        package_names(RUNTIME, "imagery_archive")
        | package_names(ROOT / "imagery_archive_cli", "imagery_archive_cli")
        | package_names(ROOT / "stac_api", "stac_api")  # the STAC API image's code: `catalog load` uses its loader
    )
    assert declared == found, "pyproject.toml lists exactly the package folders: an install ships only those"


def test_each_layer_of_the_runtime_has_its_tests_folder() -> None:
    layers = {path.name for path in RUNTIME.iterdir() if (path / "__init__.py").is_file()}
    assert layers == {"imaging", "s3", "catalogue", "archiving", "entrypoints"}
    missing = {layer for layer in layers if not list((ROOT / "tests" / layer).glob("test_*.py"))}
    assert not missing, f"tests/<layer>/ mirrors lambda_src/imagery_archive/<layer>/: no tests for {missing}"


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
