"""The Lambda container image's recipe: linted, pinned, and pointing at a handler that exists.

Nothing here builds the image: tests/container/test_container_runtime.py builds and runs it. These checks are quick and
need no Docker engine; they catch what would otherwise fail only at `cdk deploy` time, or silently pick up a
different GDAL or library version later.
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
LOCK = LAMBDA_SRC / "requirements.lock"
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
    (base,) = [arg.split("=", 1)[1] for arg in _instructions("ARG") if arg.startswith("BASE_IMAGE=")]
    assert re.fullmatch(r"ghcr\.io/osgeo/gdal:ubuntu-small-\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", base), (
        f"BASE_IMAGE={base!r}: an unpinned base image would change GDAL under the function without a code change"
    )
    assert [line.split()[0] for line in _instructions("FROM")] == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


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


def _locked() -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9][\w.-]*)==(\S+)", LOCK.read_text(), re.MULTILINE))


def test_the_image_installs_exactly_the_lock() -> None:
    """Every package pinned with its hashes, transitive ones included: pip resolves nothing at build time."""
    run = " ".join(_instructions("RUN"))
    for flag in ("--no-deps", "--require-hashes", "--only-binary=:all:", "--requirement /tmp/requirements.lock"):
        assert flag in run, f"the image's pip install lacks {flag}"
    assert "requirements.lock /tmp/requirements.lock" in _instructions("COPY")
    body = "\n".join(line for line in LOCK.read_text().splitlines() if not line.startswith("#"))
    entries = re.split(r"\n(?=[A-Za-z0-9])", body.strip())
    assert len(entries) == len(_locked())
    for entry in entries:
        name = entry.split("==")[0]
        assert "==" in entry.splitlines()[0], f"{name} is not pinned with =="
        assert "--hash=sha256:" in entry, f"{name} has no hash in requirements.lock"


def test_the_lock_agrees_with_requirements_txt() -> None:
    """requirements.txt names the function's direct dependencies; the lock must hold each at the same version.

    NumPy is the exception: the image keeps the base image's NumPy (its `osgeo.gdal_array` is compiled against
    it), so the lock has none; tests/container/test_container_runtime.py checks the NumPy the built image really has.
    """
    locked = {name.lower(): version for name, version in _locked().items()}
    assert "numpy" not in locked, "a pip NumPy would shadow the one the base image's GDAL bindings are built for"
    for requirement in _requirements():
        name, _, version = requirement.partition("==")
        name = re.sub(r"\[.*\]", "", name).lower()
        if name == "numpy":
            continue
        assert locked.get(name) == version, (
            f"requirements.txt pins {requirement} but requirements.lock has {locked.get(name)}: "
            "run scripts/lock_image_requirements.sh"
        )


def test_the_proxy_ca_is_seen_only_by_the_build_stage() -> None:
    """`PIP_EXTRA_CA_CERTS` is declared after the first FROM and before the second: the shipped stage never
    has it, in its file system or its history (tests/container/test_container_runtime.py checks the built image)."""
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)
    assert len(stages) == 3, "two stages: the packages, then the function's image"
    assert "ARG PIP_EXTRA_CA_CERTS" in stages[1]
    assert "PIP_EXTRA_CA_CERTS" not in stages[2]
    assert "rm -f /tmp/ca-bundle.pem" in stages[1]


def test_nothing_is_uninstalled_in_the_shipped_stage() -> None:
    """A purge with --auto-remove once took away `packaging`, which scikit-image needs, on one base."""
    shipped = re.split(r"^FROM ", DOCKERFILE.read_text(), flags=re.MULTILINE)[2]
    for removal in ("purge", "autoremove", "--auto-remove", "pip uninstall", "apt-get remove"):
        assert removal not in shipped


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
