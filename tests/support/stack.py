"""Synthesizes the app as `cdk synth` would: `cdk.json`'s context, plus the overrides a test is about."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from app import STACK_NAME, build_app
from tests.support.paths import ROOT

# The CLI adds each resource's construct path to its metadata; tests find resources by that path.
PATH_METADATA = {"aws:cdk:enable-path-metadata": True}
IMPORTED_BUCKETS = {"inputBucketName": "survey-uploads", "outputBucketName": "survey-archive"}
"""Context that makes the stack import existing buckets instead of creating them."""


def cdk_json_context() -> dict[str, Any]:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def synth_stack(**overrides: Any) -> Stack:
    """The stack, with cdk-nag attached: synthesizing it fails on any unacknowledged finding."""
    app: App = build_app({**cdk_json_context(), **PATH_METADATA, **overrides})
    return app.node.find_child(STACK_NAME)


def synth_template(**overrides: Any) -> Template:
    return Template.from_stack(synth_stack(**overrides))


def logical_id(template: Template, resource_type: str, path_suffix: str) -> str:
    """The logical ID of the one `resource_type` made by the construct whose path ends with `path_suffix`."""
    matches = [
        name
        for name, resource in template.find_resources(resource_type).items()
        if resource.get("Metadata", {}).get("aws:cdk:path", "").endswith(f"{path_suffix}/Resource")
    ]
    assert len(matches) == 1, f"expected one {resource_type} at */{path_suffix}, found {matches}"
    return matches[0]
