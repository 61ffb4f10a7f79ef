"""Acknowledging cdk-nag findings on object ARNs, whose finding IDs depend on how the bucket is referenced."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge_wildcard_resources(scope: IConstruct, resources: list[str], reason: str) -> None:
    """Acknowledges `AwsSolutions-IAM5` for exactly these resources, for created or imported buckets."""
    stack = Stack.of(scope)
    Validations.of(scope).acknowledge(
        *(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{_as_nag_text(stack.resolve(arn))}]",
                reason=reason,
            )
            for arn in resources
        )
    )


def _as_nag_text(value: Any) -> str:
    """Writes a resolved ARN the way cdk-nag names it in findings: `<Logical.Arn>/*`, `<AWS::Partition>`."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_as_nag_text(part) for part in parts)
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    raise ValueError(f"no cdk-nag finding text for {value!r}")
