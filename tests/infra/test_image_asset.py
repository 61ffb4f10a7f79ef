"""The function's image asset deploys on current Docker: one image manifest for one platform, never an index.

BuildKit (Docker 23+ with buildx, Docker Desktop) adds provenance attestations by default, and the pushed
image is then an OCI image index, which Lambda refuses ("The image manifest, config or layer media type ...
is not supported": docker/buildx#1533, aws/aws-cdk#31548, aws/aws-lambda-roadmap#82). The asset can't pass
`--provenance=false` itself: the build options' only way, `outputs`, becomes `--output=...`, which a Docker
CLI without buildx refuses. What makes it hold on every Docker is the build's environment:
`BUILDX_NO_DEFAULT_ATTESTATIONS=1`, which the pinned CDK CLI (package.json) sets on every asset build and
`make deploy` sets too; the legacy builder never adds attestations.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.stack import ROOT, cdk_json_context, synth_stack

CDK_CLI = ROOT / "node_modules" / "aws-cdk" / "lib" / "index.js"


@pytest.fixture(scope="module")
def image_assets() -> list[dict]:
    stack = synth_stack()
    assembly = stack.node.root.synth()
    manifests = list(Path(assembly.directory).glob("*.assets.json"))
    assert manifests, "no asset manifest in the cloud assembly"
    return [asset for manifest in manifests for asset in json.loads(manifest.read_text())["dockerImages"].values()]


def test_the_function_image_is_built_for_one_platform_with_no_output_override(image_assets):
    (asset,) = image_assets
    source = asset["source"]
    assert source["platform"] == "linux/amd64", "one platform: a multi-platform build is always an index"
    assert cdk_json_context()["architecture"] == "x86_64"
    assert "dockerOutputs" not in source, "an --output can turn the image into an index, and needs buildx"
    assert "cacheTo" not in source, "exporting a build cache needs BuildKit and a containerd image store"


def test_the_pinned_cdk_cli_builds_assets_without_attestations():
    """cdk-assets, inside the CLI, runs `docker build` with BUILDX_NO_DEFAULT_ATTESTATIONS=1 in its environment."""
    assert CDK_CLI.is_file(), "the CDK CLI is installed by `make setup` (package.json)"
    source = CDK_CLI.read_text()
    build = re.search(r"async build\(options\) \{\s*const buildCommand = \[\s*\"build\",(?s:.*?)\n      \}\n", source)
    assert build, "the CLI's docker build step was not found: check the attestation setting by hand after upgrading"
    assert re.search(r'BUILDX_NO_DEFAULT_ATTESTATIONS:\s*"1"', build.group(0)), (
        "this CDK CLI builds image assets with provenance attestations: Lambda would refuse the pushed index"
    )


def test_make_deploy_builds_without_attestations_whatever_the_cli():
    makefile = (ROOT / "Makefile").read_text()
    deploy = re.search(r"^deploy:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert deploy, "make deploy is the documented way to deploy"
    assert "BUILDX_NO_DEFAULT_ATTESTATIONS=1" in deploy.group(1)
