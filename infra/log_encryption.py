"""One customer-managed KMS key for the stack's log groups.

The logs name every object the pipeline touches and why it failed; under a key of the stack's own, reading
them takes both CloudWatch Logs permissions and the key, and disabling the key locks them all at once. One
key (about $1 a month, rotated yearly) serves every log group: only CloudWatch Logs of this account and
region may use it, and only for this account's log groups.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# What CloudWatch Logs does with a log group's key (AWS's documented key policy for encrypted log groups).
LOGS_KEY_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
]


def logs_key(scope: Construct, construct_id: str) -> kms.Key:
    """A rotated key that CloudWatch Logs may use for this account's log groups in this region, and nothing else."""
    stack = Stack.of(scope)
    key = kms.Key(
        scope,
        construct_id,
        description="Encrypts the imagery archive's log groups (function, large-scene jobs, VPC flow logs).",
        enable_key_rotation=True,
        # The log groups go with the stack (their retention is 3 months); the key is scheduled for deletion after them.
        removal_policy=RemovalPolicy.DESTROY,
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=LOGS_KEY_ACTIONS,
            resources=["*"],  # in a key policy, "*" is this key
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
                }
            },
        )
    )
    return key
