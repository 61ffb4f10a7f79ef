"""The CDK app: `npx cdk synth` / `deploy` / `destroy` run this through `cdk.json`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.settings import PipelineSettings
from infra.stack import ImageryArchiveStack

STACK_NAME = "ImageryArchive"


def build_app(context: Mapping[str, Any] | None = None) -> cdk.App:
    """The app with cdk-nag's AwsSolutions checks: every synth fails on an unacknowledged finding, and each
    acknowledgment is written into the template's metadata with its reason, for reviewers.

    The CLI passes `cdk.json`'s context through the environment; tests pass it as `context`.
    """
    app = cdk.App(context=dict(context) if context is not None else None)
    settings = PipelineSettings.from_context(app.node)
    ImageryArchiveStack(
        app,
        STACK_NAME,
        settings=settings,
        description="Compress and archive satellite imagery",
        env=_lookup_environment() if settings.vpc_id else None,
    )
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
    return app


def _lookup_environment() -> cdk.Environment:
    """An existing VPC (`vpcId`) is looked up in one account and region: the CLI's, from its credentials."""
    return cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))


if __name__ == "__main__":
    build_app().synth()
