"""The function's container image, built once per test session, for the tests marked `container`.

The image is built from lambda_src/Dockerfile on the pinned base image when Docker can pull it, or else on a
stand-in made from Debian's packages with the same GDAL minor version (`scripts/base_image.sh`); the test
summary says which. Without a Docker engine the container tests are skipped with a message naming what is
missing, except under CI=true, where that is a failure: the image must never ship untested.

The engine is the one `docker` reaches (DOCKER_HOST, or the default socket); `.ci/run` starts a private one.
A TLS-inspecting proxy's CA certificates (the PEM files in /usr/local/share/ca-certificates, or the file
named by IMAGERY_ARCHIVE_EXTRA_CA) are passed to the build as `PIP_EXTRA_CA_CERTS`, which only the build
stage's pip sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import ROOT

FUNCTION_IMAGE = "imagery-archive-function:test"
TEST_IMAGE = "imagery-archive-function-tests:test"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
BUILD_TIMEOUT = 1200

_summary: list[str] = []


@dataclass(frozen=True)
class BuiltImage:
    name: str
    base: str
    """The base image's reference."""
    base_description: str
    """Which base it is, and its GDAL, Python and NumPy versions."""


def docker(*args: str, timeout: float = 300, check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; BuildKit, where present, adds no attestations (the image stays one manifest)."""
    env = {**os.environ, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
    buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False)
    if buildx.returncode != 0:
        env["DOCKER_BUILDKIT"] = "0"  # a Docker CLI without buildx builds with the legacy builder
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False, **kwargs
    )
    if check and result.returncode != 0:
        output = result.stdout[-4000:] + result.stderr[-4000:]
        raise AssertionError(f"docker {' '.join(args[:3])} ... failed ({result.returncode}):\n{output}")
    return result


def extra_ca_certificates() -> str:
    """PEM text of the CA certificates this machine trusts beyond the distribution's (a proxy's), or ''."""
    named = os.environ.get("IMAGERY_ARCHIVE_EXTRA_CA")
    files = [Path(named)] if named else sorted(LOCAL_CA_DIR.rglob("*.crt")) if LOCAL_CA_DIR.is_dir() else []
    return "\n".join(path.read_text().strip() for path in files)


def _no_engine(reason: str) -> None:
    message = f"container tests need a Docker engine: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: the image must be tested; .ci/run starts a private dockerd)")
    pytest.skip(f"{message}; `.ci/run` shows how to start a private one (scripts/docker_engine.sh)")


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The engine's version; skips (fails under CI=true) when there is none."""
    if shutil.which("docker") is None:
        _no_engine("no `docker` command (apt-get install docker.io)")
    result = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        where = os.environ.get("DOCKER_HOST", "the default socket")
        _no_engine(f"`docker` can't reach a daemon at {where}: {result.stderr.strip()[:300]}")
    return result.stdout.strip()


@pytest.fixture(scope="session")
def function_image(docker_engine: str) -> BuiltImage:
    """lambda_src/Dockerfile built on the pinned base, or on the stand-in where it can't be pulled."""
    chosen = subprocess.run(
        [str(ROOT / "scripts" / "base_image.sh")], capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    assert chosen.returncode == 0, f"no base image could be had:\n{chosen.stderr[-4000:]}"
    base, description = chosen.stdout.strip().split("\t")
    docker(
        "build",
        "--network",
        "host",
        "--tag",
        FUNCTION_IMAGE,
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        f"PIP_EXTRA_CA_CERTS={extra_ca_certificates()}",
        str(ROOT / "lambda_src"),
        timeout=BUILD_TIMEOUT,
    )
    _summary.append(f"function image built on {description}")
    return BuiltImage(FUNCTION_IMAGE, base, description)


@pytest.fixture(scope="session")
def test_image(function_image: BuiltImage) -> str:
    """The function image plus pytest and moto (tests/container/Dockerfile): never shipped."""
    docker(
        "build",
        "--network",
        "host",
        "--tag",
        TEST_IMAGE,
        "--build-arg",
        f"FUNCTION_IMAGE={function_image.name}",
        "--build-arg",
        f"PIP_EXTRA_CA_CERTS={extra_ca_certificates()}",
        str(ROOT / "tests" / "container"),
        timeout=BUILD_TIMEOUT,
    )
    return TEST_IMAGE


@contextmanager
def running(image: str, *args: str, env: dict[str, str], memory_mib: int, tmp_mib: int) -> Iterator[str]:
    """A container of `image` run as Lambda runs one: read-only but for /tmp, as an unprivileged user, with a
    memory limit and the host's network (to reach the Runtime API and S3 on 127.0.0.1). Yields its id; its
    logs are kept in `logs_of` after it is removed."""
    command = ["run", "--detach", "--network", "host", "--read-only", "--user", "993:990"]
    command += ["--tmpfs", f"/tmp:rw,exec,mode=1777,size={tmp_mib}m"]
    command += ["--memory", f"{memory_mib}m", "--memory-swap", f"{memory_mib}m"]
    for name, value in env.items():
        command += ["--env", f"{name}={value}"]
    container = docker(*command, image, *args).stdout.strip()
    try:
        yield container
    finally:
        logs = docker("logs", container, check=False)
        logs_of[container] = logs.stdout + logs.stderr
        docker("rm", "--force", container, check=False)


logs_of: dict[str, str] = {}


def summary(line: str) -> None:
    """A line for the end of the test output (the base used, measured times)."""
    _summary.append(line)


def pytest_terminal_summary(terminalreporter) -> None:
    if _summary:
        terminalreporter.section("container image")
        for line in _summary:
            terminalreporter.write_line(line)
