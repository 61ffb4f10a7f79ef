"""Failure handling: where events that failed every retry go, and the alarms that say something went wrong."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from imagery_archive.archiving.outcomes import Outcome
from imagery_archive.settings import METRICS_NAMESPACE, SERVICE_NAME
from infra.checkov import acknowledge_checkov

# SQS's maximum: a failed scene's event waits two weeks for someone to inspect and replay it.
FAILED_EVENT_RETENTION = Duration.days(14)
ALARM_PERIOD = Duration.minutes(5)
THROTTLED_PERIODS = 3
"""Throttling alarms only when it lasts (3 periods of 5 minutes in a row): during a bulk upload the reserved
concurrency throttles by design, and Lambda retries throttled events; a quarter of an hour is a backlog."""
DURATION_WINDOW = Duration.minutes(15)
NEAR_TIMEOUT_SHARE = 0.8
"""Duration p99 above 80% of the timeout: the largest scenes are about to time out (and be retried, in vain)."""
UNDRAINED_FAILURE_AGE = Duration.days(1)
"""A failure-queue message older than a day: nobody is draining the queue, which keeps messages 14 days."""


class FailureQueue(Construct):
    """An encrypted, TLS-only queue that keeps the events of scenes the function could not process."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=FAILED_EVENT_RETENTION,
        )
        acknowledge_checkov(
            self.queue,
            {
                "CKV_AWS_27": "A false positive: the queue is encrypted at rest with SSE-SQS (SqsManagedSseEnabled), "
                "which the check does not recognise since it looks for a KMS key only. Its messages are event "
                "records (bucket, key, reason), no imagery.",
            },
        )
        Validations.of(self.queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="This queue is itself the dead-letter destination of the function's failed events. "
                "Nothing consumes it automatically, so no message can fail processing and need its own DLQ; "
                "an alarm fires on the first message.",
            )
        )


class PipelineAlarms(Construct):
    """Alarms on what an on-call engineer must act on, notifying an SNS topic (and an e-mail, if given).

    A single error alarms at once: each one is a scene that was not archived yet. So do a scene that failed
    for good, a large-scene job that ended FAILED, a failure queue nobody drains, throttling that lasts, and
    durations close to the timeout.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        timeout: Duration,
        failure_queue: sqs.IQueue,
        failed_jobs: events.IRule | None,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", enforce_ssl=True)
        acknowledge_checkov(
            self.topic,
            {
                "CKV_AWS_26": "The topic carries only alarm state changes (no imagery, no object keys). CloudWatch "
                "cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key "
                "would add cost and a key policy for no protected data.",
            },
        )
        Validations.of(self.topic).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SNS2",
                reason="The topic carries only alarm state changes (no imagery, no object keys). CloudWatch "
                "cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed "
                "key would add cost and a key policy for no protected data.",
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.function_errors = self._alarm(
            "FunctionErrors",
            function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
            "The imagery compression function failed on at least one invocation (it will retry).",
        )
        self.failed_events = self._alarm(
            "FailedEvents",
            failure_queue.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD, statistic="Maximum"),
            "At least one upload failed every retry: its event is in the failure queue, its original is "
            "still in the input bucket.",
        )
        self.permanent_failures = self._alarm(
            "PermanentFailures",
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=Outcome.FAILED.metric_name,
                # Powertools' EMF documents carry the service name as the dimension "service".
                dimensions_map={"service": SERVICE_NAME},
                period=ALARM_PERIOD,
                statistic="Sum",
            ),
            "At least one upload can't be compressed (not an image, corrupt, too large): it stays in the input "
            "bucket tagged imagery-archive:status=failed, with the reason in imagery-archive:reason.",
        )
        self._operations_alarms(function, timeout, failure_queue, failed_jobs)

    def _operations_alarms(
        self,
        function: lambda_.IFunction,
        timeout: Duration,
        failure_queue: sqs.IQueue,
        failed_jobs: events.IRule | None,
    ) -> None:
        """Throttling that lasts, durations near the timeout, an undrained failure queue, FAILED large-scene jobs."""
        self.throttles = self._alarm(
            "Throttles",
            function.metric_throttles(period=ALARM_PERIOD, statistic="Sum"),
            "The function was throttled for 15 minutes in a row: uploads arrive faster than its reserved "
            "concurrency (maxConcurrency) takes them. Lambda retries their events until maxEventAgeHours, then "
            "sends them to the failure queue; the originals stay in the input bucket.",
            evaluation_periods=THROTTLED_PERIODS,
        )
        near_timeout = timeout.to_milliseconds() * NEAR_TIMEOUT_SHARE
        self.near_timeout = self._alarm(
            "DurationNearTimeout",
            function.metric_duration(period=DURATION_WINDOW, statistic="p99"),
            f"The function's duration p99 is above {NEAR_TIMEOUT_SHARE:.0%} of its {timeout.to_minutes()}-minute "
            "timeout: the largest scenes are about to time out. Raise memoryMiB (more CPU), or lower "
            "largeSceneBytes so that they go to the large-scene job.",
            threshold=near_timeout,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self.undrained_failures = self._alarm(
            "FailureQueueUndrained",
            failure_queue.metric_approximate_age_of_oldest_message(period=ALARM_PERIOD, statistic="Maximum"),
            "The failure queue's oldest message is over a day old: nobody has replayed or cleared it, and SQS "
            "deletes messages after 14 days. Read them (see README), fix the cause, re-upload the originals.",
            threshold=UNDRAINED_FAILURE_AGE.to_seconds(),
        )
        self.failed_jobs: cloudwatch.Alarm | None = None
        if failed_jobs is not None:
            self.failed_jobs = self._alarm(
                "LargeSceneJobsFailed",
                cloudwatch.Metric(
                    namespace="AWS/Events",
                    metric_name="TriggeredRules",
                    dimensions_map={"RuleName": failed_jobs.rule_name},
                    period=ALARM_PERIOD,
                    statistic="Sum",
                ),
                "At least one large-scene job ended FAILED (bad input, a third transient failure, or its timeout): "
                "its state change is in the failure queue with the job's ID and SOURCE_KEY; the original stays.",
            )

    @property
    def all(self) -> list[cloudwatch.IAlarm]:
        """Every alarm of the pipeline, for the dashboard's alarm panel."""
        alarms: list[cloudwatch.IAlarm] = [
            self.function_errors,
            self.failed_events,
            self.permanent_failures,
            self.throttles,
            self.near_timeout,
            self.undrained_failures,
        ]
        return alarms + ([self.failed_jobs] if self.failed_jobs is not None else [])

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        threshold: float = 1,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) -> cloudwatch.Alarm:
        """An alarm on `metric` reaching `threshold` in each of `evaluation_periods` periods, sent to the topic."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        return alarm
