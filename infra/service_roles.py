"""Service principals that may assume a role only for this account (and, where the service states it, only for
its resources of this account): the confused-deputy guard of every role a service assumes here.

`aws:SourceAccount` is set by every service that assumes a role on a resource's behalf; `aws:SourceArn` is
added where the service documents the ARN it sends (ECS tasks, VPC flow logs). For a Lambda execution role
only the account is named: Lambda documents no `aws:SourceArn` for assuming it, and a condition on a key the
service doesn't send would make the role impossible to assume.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

ECS_TASKS = ("ecs-tasks.amazonaws.com", "ecs", "*")
"""Fargate tasks (the large-scene job's task role and execution role): any ECS resource of this account."""
VPC_FLOW_LOGS = ("vpc-flow-logs.amazonaws.com", "ec2", "vpc-flow-log/*")
LAMBDA = ("lambda.amazonaws.com", None, None)


def scoped_principal(scope: IConstruct, service: tuple[str, str | None, str | None]) -> iam.ServicePrincipal:
    """`service` (principal, ARN service, ARN resource) as a principal limited to this stack's account."""
    principal, arn_service, arn_resource = service
    stack = Stack.of(scope)
    conditions: dict[str, dict[str, str]] = {"StringEquals": {"aws:SourceAccount": stack.account}}
    if arn_service is not None:
        source = f"arn:{stack.partition}:{arn_service}:{stack.region}:{stack.account}:{arn_resource}"
        conditions["ArnLike"] = {"aws:SourceArn": source}
    return iam.ServicePrincipal(principal, conditions=conditions)
