"""Acknowledging checkov findings on the resource they are about, with the reason, as `infra.nag` does for cdk-nag.

checkov reads `Metadata: {checkov: {skip: [{id, comment}]}}` on a CloudFormation resource and reports the
check as skipped, with the comment, instead of failed. Writing the reason next to the resource keeps it in
the template a reviewer reads; `tests/infra/test_checkov.py` runs checkov on the synthesized templates and fails
on any finding that is neither fixed nor acknowledged here.
"""

from __future__ import annotations

from aws_cdk import CfnResource, Stack
from constructs import IConstruct

CHECKOV_METADATA = "checkov"
# aws-cdk-lib's own functions that run only while CloudFormation deploys: the bucket-notification handler, and
# the custom-resource providers (S3 auto-delete of destroyBucketsWithStack, the VPC default security group's
# restriction of @aws-cdk/aws-ec2:restrictDefaultSecurityGroup), each a singleton at the stack's root.
_NOTIFICATIONS_HANDLER_PREFIX = "BucketNotificationsHandler"
_PROVIDER_PREFIX, _PROVIDER_SUFFIX = "Custom::", "CustomResourceProvider"
_DEPLOY_TIME_HANDLER_REASONS = {
    "CKV_AWS_115": "aws-cdk-lib's deploy-time handler ({name}) runs only while CloudFormation deploys or deletes "
    "the stack, never at run time, so it needs no reserved concurrency.",
    "CKV_AWS_116": "aws-cdk-lib's deploy-time handler ({name}) is invoked synchronously by CloudFormation, which "
    "reports its failure as a failed deployment: there is no asynchronous event to dead-letter.",
    "CKV_AWS_117": "aws-cdk-lib's deploy-time handler ({name}) only calls AWS APIs while deploying; in a VPC it "
    "would need a NAT gateway or endpoints, and would protect nothing.",
}


def acknowledge_checkov(scope: IConstruct, reasons: dict[str, str]) -> None:
    """Skip each checkov check ID in `reasons` on `scope`'s CloudFormation resource, with its reason."""
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource to acknowledge checkov findings on")
    existing = resource.get_metadata(CHECKOV_METADATA) or {"skip": []}
    skips = [*existing["skip"], *({"id": check, "comment": reason} for check, reason in reasons.items())]
    resource.add_metadata(CHECKOV_METADATA, {"skip": skips})


def acknowledge_deploy_time_handlers(stack: Stack) -> None:
    """The findings on aws-cdk-lib's deploy-time functions, which this project does not write and cannot configure."""
    for child in stack.node.children:
        name = child.node.id
        if name.startswith(_NOTIFICATIONS_HANDLER_PREFIX):
            resource, readable = child.node.find_child("Resource"), _NOTIFICATIONS_HANDLER_PREFIX
        elif name.startswith(_PROVIDER_PREFIX) and name.endswith(_PROVIDER_SUFFIX):
            resource, readable = child.node.find_child("Handler"), name.removesuffix(_PROVIDER_SUFFIX)
        else:
            continue
        acknowledge_checkov(
            resource, {check: reason.format(name=readable) for check, reason in _DEPLOY_TIME_HANDLER_REASONS.items()}
        )
