"""Where the large-scene jobs stand: every state change AWS Batch reports, kept in a log group and counted.

AWS Batch publishes no CloudWatch metric of its jobs' states, only EventBridge events. A rule sends every
state change of this pipeline's job queue to a log group (EventBridge writes only to log groups named
`/aws/events/...`, under a resource policy of CloudWatch Logs), and a metric filter counts them per state:
`LargeSceneJobStateChanges` with the dimension `status`, in the pipeline's namespace. The dashboard graphs
those counts and asks the log for the latest state of each job.
"""

from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from imagery_archive.settings import METRICS_NAMESPACE
from infra.archive_job_resources import log_group

JOB_STATE_METRIC = "LargeSceneJobStateChanges"
JOB_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
"""AWS Batch's job states, in the order a job passes through them."""
LATEST_STATE_PER_JOB = (
    "fields detail.jobName, detail.status",
    "| stats latest(detail.status) as state by detail.jobId",
    "| stats count(*) as jobs by state",
)
"""Logs Insights: how many jobs are in each state now (their latest state change in the time range)."""


class JobStateLog(Construct):
    """Every state change of `job_queue`'s jobs, as log events and as a count per state."""

    def __init__(self, scope: Construct, construct_id: str, *, job_queue: batch.IJobQueue, logs_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group = log_group(
            self, "Logs", logs_key, log_group_name=f"/aws/events/{stack.stack_name}/large-scene-job-states"
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="Every state change of the large-scene archive jobs, to their state log.",
            event_pattern=events.EventPattern(
                source=["aws.batch"],
                detail_type=["Batch Job State Change"],
                detail={"jobQueue": [job_queue.job_queue_arn]},
            ),
        )
        self.rule.add_target(_LogGroupTarget(self.log_group))
        logs.ResourcePolicy(
            self,
            "EventsMayWrite",
            resource_policy_name=f"{stack.stack_name}-large-scene-job-states",
            policy_statements=[_events_may_write(self.log_group)],
        )
        logs.MetricFilter(
            self,
            "CountPerState",
            log_group=self.log_group,
            filter_pattern=logs.FilterPattern.exists("$.detail.status"),
            metric_namespace=METRICS_NAMESPACE,
            metric_name=JOB_STATE_METRIC,
            metric_value="1",
            dimensions={"status": "$.detail.status"},
            unit=cloudwatch.Unit.COUNT,
        )

    @staticmethod
    def state_changes(status: str, period: Duration) -> cloudwatch.Metric:
        """How many jobs entered `status` (one of `JOB_STATES`) per `period`."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=JOB_STATE_METRIC,
            dimensions_map={"status": status},
            statistic="Sum",
            period=period,
            label=status,
        )


def _events_may_write(group: logs.ILogGroup) -> iam.PolicyStatement:
    """EventBridge (and CloudWatch Logs' delivery, which it writes through) may add events to `group` only."""
    return iam.PolicyStatement(
        sid="EventBridgeWritesJobStates",
        principals=[iam.ServicePrincipal("events.amazonaws.com"), iam.ServicePrincipal("delivery.logs.amazonaws.com")],
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[group.log_group_arn],
    )


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """The rule's target, the log group itself. `aws_events_targets.CloudWatchLogGroup` would do the same through a
    custom resource (a Lambda function of its own) only to write the resource policy, which is declared above."""

    def __init__(self, group: logs.ILogGroup) -> None:
        self._group = group

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        stack = Stack.of(self._group)
        arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=self._group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        return events.RuleTargetConfig(arn=arn)
