"""Failure handling: where events that failed every retry go, and the alarms that say something went wrong."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from imagery_archive.archiving.outcomes import Outcome
from imagery_archive.settings import METRICS_NAMESPACE, SERVICE_NAME

# SQS's maximum: a failed scene's event waits two weeks for someone to inspect and replay it.
FAILED_EVENT_RETENTION = Duration.days(14)
ALARM_PERIOD = Duration.minutes(5)


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
        Validations.of(self.queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="This queue is itself the dead-letter destination of the function's failed events. "
                "Nothing consumes it automatically, so no message can fail processing and need its own DLQ; "
                "an alarm fires on the first message.",
            )
        )


class PipelineAlarms(Construct):
    """Alarms on function errors and on failed events, notifying an SNS topic (and an e-mail, if given).

    A single error alarms at once: each one is a scene that was not archived yet.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        failure_queue: sqs.IQueue,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", enforce_ssl=True)
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

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        return alarm
