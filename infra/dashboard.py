"""The operator's dashboard: how much was archived and saved, how good the images are, how close to the limits.

Written with aws_cloudwatch's own widgets rather than cdk-monitoring-constructs: most panels are the pipeline's
own EMF metrics and metric math (the running saving, the SSIM percentiles, the timeout and reserved-concurrency
lines, the Batch job states counted from their events), which that library would take as custom metrics
anyway; its per-service panels and alarm factories would duplicate `PipelineAlarms` under other names, and add
a dependency to the CDK app.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from imagery_archive.archiving.outcomes import Outcome
from imagery_archive.settings import METRICS_NAMESPACE, SERVICE_NAME
from infra.failures import NEAR_TIMEOUT_SHARE, UNDRAINED_FAILURE_AGE
from infra.job_states import JOB_STATES, LATEST_STATE_PER_JOB, JobStateLog

HOUR = Duration.hours(1)
FULL_WIDTH = 24
HALF_WIDTH = 12
THIRD_WIDTH = 8
SSIM_STATISTICS = ("Minimum", "p10", "p50", "p90")
"""The SSIM distribution: the worst image, and the 10th, 50th and 90th percentiles of each hour's images."""


def pipeline_metric(
    name: str, statistic: str = "Sum", period: Duration = HOUR, label: str | None = None
) -> cloudwatch.Metric:
    """One of the function's EMF metrics (Powertools puts the service name in the dimension `service`)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=period,
        label=label or name,
    )


class PipelineDashboard(Construct):
    """One dashboard, named after the stack and its region (`DashboardName` in the stack's outputs)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        timeout: Duration,
        reserved_concurrency: int,
        failure_queue: sqs.IQueue,
        job_states: JobStateLog | None,
        alarms: list[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{stack.stack_name}-{stack.region}",
            default_interval=Duration.days(7),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=FULL_WIDTH, height=3)
        )
        self.dashboard.add_widgets(_outcomes())
        self.dashboard.add_widgets(*_bytes_and_saving())
        self.dashboard.add_widgets(_ssim(), _duration(function, timeout))
        self.dashboard.add_widgets(_throttles(function, reserved_concurrency), _failure_queue(failure_queue))
        if job_states is not None:
            self.dashboard.add_widgets(*_large_scene_jobs(job_states))


def _outcomes() -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title="Objects per hour, by outcome",
        left=[pipeline_metric(outcome.metric_name, label=str(outcome)) for outcome in Outcome],
        stacked=True,
        width=FULL_WIDTH,
    )


def _bytes_and_saving() -> list[cloudwatch.IWidget]:
    """Bytes in and out per hour; the saving since the start of the graph, and over the dashboard's range."""
    using = {"bytesIn": pipeline_metric("BytesIn"), "bytesOut": pipeline_metric("BytesOut")}
    running = cloudwatch.MathExpression(
        expression="1 - RUNNING_SUM(bytesOut) / RUNNING_SUM(bytesIn)",
        using_metrics=using,
        label="saving so far (1 - COG bytes / original bytes)",
        period=HOUR,
    )
    over_range = cloudwatch.MathExpression(
        expression="1 - bytesOut / bytesIn", using_metrics=using, label="saving over the range", period=HOUR
    )
    return [
        cloudwatch.GraphWidget(
            title="Bytes in (originals) and out (COGs) per hour",
            left=[pipeline_metric("BytesIn", label="originals"), pipeline_metric("BytesOut", label="COGs")],
            width=THIRD_WIDTH,
        ),
        cloudwatch.GraphWidget(
            title="Running saving (ratio)",
            left=[running],
            left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
            width=THIRD_WIDTH,
        ),
        cloudwatch.SingleValueWidget(
            title="Saving over the dashboard's range",
            metrics=[over_range],
            set_period_to_time_range=True,
            width=THIRD_WIDTH,
        ),
    ]


def _ssim() -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title="SSIM of the COGs (1 = identical): worst, p10, p50, p90 per hour",
        left=[pipeline_metric("SSIM", statistic=statistic, label=statistic) for statistic in SSIM_STATISTICS],
        left_y_axis=cloudwatch.YAxisProps(max=1),
        width=HALF_WIDTH,
    )


def _duration(function: lambda_.IFunction, timeout: Duration) -> cloudwatch.GraphWidget:
    timeout_ms = timeout.to_milliseconds()
    return cloudwatch.GraphWidget(
        title="Function duration p50 / p99 against the timeout (ms)",
        left=[function.metric_duration(statistic=statistic, label=statistic) for statistic in ("p50", "p99")],
        left_annotations=[
            cloudwatch.HorizontalAnnotation(value=timeout_ms, label="timeout"),
            cloudwatch.HorizontalAnnotation(
                value=timeout_ms * NEAR_TIMEOUT_SHARE, label=f"alarm: {NEAR_TIMEOUT_SHARE:.0%} of the timeout"
            ),
        ],
        width=HALF_WIDTH,
    )


def _throttles(function: lambda_.IFunction, reserved_concurrency: int) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title="Throttles (left) and concurrent executions against the reserved limit (right)",
        left=[function.metric_throttles(statistic="Sum", label="throttles")],
        right=[function.metric("ConcurrentExecutions", statistic="Maximum", label="concurrent executions")],
        right_annotations=[
            cloudwatch.HorizontalAnnotation(value=reserved_concurrency, label="reserved concurrency (maxConcurrency)")
        ],
        width=HALF_WIDTH,
    )


def _failure_queue(queue: sqs.IQueue) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title="Failure queue: messages (left), oldest message age in seconds (right)",
        left=[queue.metric_approximate_number_of_messages_visible(statistic="Maximum", label="messages")],
        right=[queue.metric_approximate_age_of_oldest_message(statistic="Maximum", label="oldest message (s)")],
        right_annotations=[
            cloudwatch.HorizontalAnnotation(value=UNDRAINED_FAILURE_AGE.to_seconds(), label="alarm: a day old")
        ],
        width=HALF_WIDTH,
    )


def _large_scene_jobs(job_states: JobStateLog) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title="Large-scene Batch jobs: state changes per hour",
            left=[job_states.state_changes(state, period=HOUR) for state in JOB_STATES],
            stacked=True,
            width=HALF_WIDTH,
        ),
        cloudwatch.LogQueryWidget(
            title="Large-scene Batch jobs by current state",
            log_group_names=[job_states.log_group.log_group_name],
            query_lines=list(LATEST_STATE_PER_JOB),
            view=cloudwatch.LogQueryVisualizationType.TABLE,
            width=HALF_WIDTH,
        ),
    ]
