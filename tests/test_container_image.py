"""The Lambda container image: linted, pinned, and pointing at a handler that exists.

Nothing here builds the image (there is no Docker engine in CI); these checks catch what would otherwise fail
only at `cdk deploy` time, or silently pick up a different GDAL or library version later.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imagery_archive import FUNCTION_ROOT
from infra.compression_function import LAMBDA_CMD, LAMBDA_ENTRYPOINT

LAMBDA_SRC = FUNCTION_ROOT
DOCKERFILE = LAMBDA_SRC / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction in the Dockerfile, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.upper().startswith(f"{name} ")]


def _requirements() -> list[str]:
    lines = (LAMBDA_SRC / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_hadolint_passes() -> None:
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"hadolint findings:\n{result.stdout}{result.stderr}"


def test_base_image_is_an_explicit_gdal_release() -> None:
    (base,) = _instructions("FROM")
    assert re.fullmatch(r"ghcr\.io/osgeo/gdal:ubuntu-small-\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", base), (
        f"FROM {base!r}: an unpinned base image would change GDAL under the function without a code change"
    )


def test_entrypoint_is_empty_so_aws_batch_can_run_the_large_scene_job_in_the_same_image() -> None:
    """Batch replaces only the command; an ENTRYPOINT would swallow `python3 -m imagery_archive.job` as its args."""
    assert [json.loads(args) for args in _instructions("ENTRYPOINT")] == [[]], "and none inherited from the base"


def test_cmd_runs_the_lambda_runtime_interface_client_as_the_function_configures_it() -> None:
    (cmd,) = (json.loads(args) for args in _instructions("CMD"))
    assert cmd == [*LAMBDA_ENTRYPOINT, *LAMBDA_CMD], "the image's default and the function's ImageConfig must agree"


def test_cmd_names_a_handler_defined_in_the_function_root() -> None:
    (cmd,) = (json.loads(args) for args in _instructions("CMD"))
    module, function = cmd[-1].rsplit(".", 1)
    source = LAMBDA_SRC / f"{module}.py"
    assert source.is_file(), f"CMD {cmd} names {source.name}, which is not in lambda_src/"
    tree = ast.parse(source.read_text()).body
    defined = {node.name for node in tree if isinstance(node, ast.FunctionDef)}
    defined |= {alias.asname or alias.name for node in tree if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert function in defined, f"CMD {cmd}: {source.name} binds no top-level name {function!r}"


def test_function_code_is_copied_to_the_task_root() -> None:
    assert "LAMBDA_TASK_ROOT=/var/task" in " ".join(_instructions("ENV"))
    assert _instructions("WORKDIR") == ["${LAMBDA_TASK_ROOT}"], "awslambdaric imports the handler from the cwd"
    assert ". ${LAMBDA_TASK_ROOT}/" in _instructions("COPY")


def test_numpy_is_left_to_the_base_image() -> None:
    """`osgeo.gdal_array` is built against the base image's NumPy: a pip NumPy would break its import."""
    run = " ".join(_instructions("RUN"))
    assert "grep -v '^numpy=='" in run, "requirements.txt's NumPy must not be installed over the base image's"
    assert "--constraint /tmp/constraints.txt" in run, "no other requirement may replace the base image's NumPy"


def test_dockerignore_keeps_junk_out_of_the_image_and_the_asset_hash() -> None:
    ignored = (LAMBDA_SRC / ".dockerignore").read_text().splitlines()
    for pattern in ("**/__pycache__", "**/*.py[cod]", "tests/"):
        assert pattern in ignored


@pytest.mark.parametrize("requirement", _requirements())
def test_requirement_is_pinned_and_matches_the_tested_version(requirement: str) -> None:
    name, separator, version = requirement.partition("==")
    assert separator, f"{requirement!r} is not pinned with =="
    assert re.fullmatch(r"[\w.+]+", version), f"{requirement!r} is not pinned to one version"
    distribution = re.sub(r"\[.*\]", "", name)
    tested = importlib.metadata.version(distribution)
    assert tested == version, f"the tests run {distribution} {tested}, but the image would install {version}"
