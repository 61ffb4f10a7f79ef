"""What an operator gets from the template: the dashboard, active tracing, the alarms an on-call engineer expects,
the large-scene jobs' state log, log groups under the stack's key, and Powertools' own log-level variable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from imagery_archive.archiving.outcomes import Outcome
from tests.support.stack import logical_id, synth_template

JOB_STATES = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]


@pytest.fixture(scope="module")
def without_jobs() -> Template:
    return synth_template(largeSceneJobs=False, timeoutMinutes=10, maxConcurrency=7)


def _only(template: Template, resource_type: str) -> dict[str, Any]:
    (resource,) = template.find_resources(resource_type).values()
    return resource["Properties"]


def _function(template: Template) -> dict[str, Any]:
    (function,) = template.find_resources("AWS::Lambda::Function", {"Properties": {"PackageType": "Image"}}).values()
    return function["Properties"]


def _widgets(template: Template) -> dict[str, dict[str, Any]]:
    """The dashboard's widgets by title, from its body (references to resources read as "TOKEN")."""
    body = _only(template, "AWS::CloudWatch::Dashboard")["DashboardBody"]
    text = "".join(part if isinstance(part, str) else "TOKEN" for part in body["Fn::Join"][1])
    return {widget["properties"].get("title", ""): widget["properties"] for widget in json.loads(text)["widgets"]}


def _widget(template: Template, title_start: str) -> dict[str, Any]:
    (widget,) = [widget for title, widget in _widgets(template).items() if title.startswith(title_start)]
    return widget


def _metric_names(widget: dict[str, Any]) -> list[str]:
    return [metric[1] for metric in widget["metrics"] if isinstance(metric[0], str) and not metric[0].startswith("{")]


def _annotations(widget: dict[str, Any]) -> list[float]:
    return [annotation["value"] for annotation in widget["annotations"]["horizontal"]]


def _alarm(template: Template, name: str) -> dict[str, Any]:
    return template.find_resources("AWS::CloudWatch::Alarm")[
        logical_id(template, "AWS::CloudWatch::Alarm", f"Alarms/{name}")
    ]["Properties"]


# The dashboard


def test_the_dashboard_shows_every_panel_an_operator_asked_for(template: Template) -> None:
    titles = list(_widgets(template))
    for expected in (
        "Alarms",
        "Objects per hour, by outcome",
        "Bytes in (originals) and out (COGs) per hour",
        "Running saving (ratio)",
        "Saving over the dashboard's range",
        "SSIM of the COGs",
        "Function duration p50 / p99 against the timeout",
        "Throttles (left) and concurrent executions against the reserved limit",
        "Failure queue: messages (left), oldest message age",
        "Large-scene Batch jobs: state changes per hour",
        "Large-scene Batch jobs by current state",
    ):
        assert any(title.startswith(expected) for title in titles), f"the dashboard has no {expected!r} panel"


def test_outcomes_are_counted_per_hour_one_line_per_outcome(template: Template) -> None:
    widget = _widget(template, "Objects per hour")
    assert _metric_names(widget) == [outcome.metric_name for outcome in Outcome]
    assert {metric[-1]["period"] for metric in widget["metrics"]} == {3600}
    assert widget["stacked"] is True


def test_the_saving_is_a_running_ratio_of_bytes_out_to_bytes_in(template: Template) -> None:
    running = _widget(template, "Running saving")["metrics"]
    expressions = [line[0]["expression"] for line in running if isinstance(line[0], dict)]
    assert expressions == ["1 - RUNNING_SUM(bytesOut) / RUNNING_SUM(bytesIn)"]
    assert {line[1] for line in running if not isinstance(line[0], dict)} == {"BytesIn", "BytesOut"}
    assert _widget(template, "Saving over")["setPeriodToTimeRange"] is True


def test_ssim_is_shown_as_a_distribution(template: Template) -> None:
    widget = _widget(template, "SSIM")
    assert [metric[-1]["stat"] for metric in widget["metrics"]] == ["Minimum", "p10", "p50", "p90"]
    assert set(_metric_names(widget)) == {"SSIM"}


def test_duration_is_drawn_against_the_timeout_and_the_alarm_line(template: Template, without_jobs: Template) -> None:
    widget = _widget(template, "Function duration")
    assert [metric[-1]["stat"] for metric in widget["metrics"]] == ["p50", "p99"]
    assert _annotations(widget) == [900_000, 720_000]
    assert _annotations(_widget(without_jobs, "Function duration")) == [600_000, 480_000]


def test_concurrency_is_drawn_against_the_reserved_limit(template: Template, without_jobs: Template) -> None:
    widget = _widget(template, "Throttles")
    assert _metric_names(widget) == ["Throttles", "ConcurrentExecutions"]
    assert _annotations(widget) == [20]
    assert _annotations(_widget(without_jobs, "Throttles")) == [7]


def test_the_failure_queue_shows_its_depth_and_oldest_message(template: Template) -> None:
    widget = _widget(template, "Failure queue")
    assert _metric_names(widget) == ["ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"]
    assert _annotations(widget) == [86_400]


def test_large_scene_jobs_are_shown_by_state(template: Template, without_jobs: Template) -> None:
    widget = _widget(template, "Large-scene Batch jobs: state changes")
    assert [metric[-1]["label"] for metric in widget["metrics"]] == JOB_STATES
    assert set(_metric_names(widget)) == {"LargeSceneJobStateChanges"}
    query = _widget(template, "Large-scene Batch jobs by current state")["query"]
    assert "stats latest(detail.status) as state by detail.jobId" in query
    assert not any(title.startswith("Large-scene") for title in _widgets(without_jobs))


def test_the_dashboard_is_named_after_the_stack_and_its_url_is_an_output(template: Template) -> None:
    name = _only(template, "AWS::CloudWatch::Dashboard")["DashboardName"]
    assert name == {"Fn::Join": ["", ["ImageryArchive-", {"Ref": "AWS::Region"}]]}
    outputs = template.to_json()["Outputs"]
    assert "#dashboards/dashboard/" in json.dumps(outputs["DashboardUrl"]["Value"])
    assert outputs["DashboardName"]["Value"] == {
        "Ref": logical_id(template, "AWS::CloudWatch::Dashboard", "Dashboard/Dashboard")
    }


# Tracing and logging


def test_the_function_is_traced_actively_and_may_send_its_traces(template: Template) -> None:
    assert _function(template)["TracingConfig"] == {"Mode": "Active"}
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {
        "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
        "Effect": "Allow",
        "Resource": "*",
    } in statements


def test_the_large_scene_job_is_explicitly_untraced(template: Template) -> None:
    (definition,) = template.find_resources("AWS::Batch::JobDefinition").values()
    container = definition["Properties"]["ContainerProperties"]
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert environment["POWERTOOLS_TRACE_DISABLED"] == "true", "Fargate has no X-Ray daemon to send spans to"


def test_the_log_level_uses_powertools_own_variable(template: Template) -> None:
    variables = _function(template)["Environment"]["Variables"]
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert "LOG_LEVEL" not in variables, "LOG_LEVEL is Powertools' legacy name"


def test_every_log_group_is_encrypted_with_the_stacks_rotated_key(template: Template) -> None:
    key = logical_id(template, "AWS::KMS::Key", "LogsKey")
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == 4, "function, large-scene job, VPC flow logs, job states"
    assert all(group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]} for group in groups.values())
    properties = template.find_resources("AWS::KMS::Key")[key]["Properties"]
    assert properties["EnableKeyRotation"] is True
    logs_statement = next(
        statement
        for statement in properties["KeyPolicy"]["Statement"]
        if statement.get("Sid", "").startswith("CloudWatchLogs")
    )
    assert logs_statement["Principal"] == {
        "Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    }
    assert "kms:EncryptionContext:aws:logs:arn" in logs_statement["Condition"]["ArnLike"]


# Alarms


def test_throttling_that_lasts_a_quarter_hour_alarms(template: Template) -> None:
    alarm = _alarm(template, "Throttles")
    assert (alarm["MetricName"], alarm["Namespace"], alarm["Statistic"]) == ("Throttles", "AWS/Lambda", "Sum")
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"]) == (300, 3, 1)


def test_duration_p99_above_80_percent_of_the_timeout_alarms(template: Template, without_jobs: Template) -> None:
    alarm = _alarm(template, "DurationNearTimeout")
    assert (alarm["MetricName"], alarm["ExtendedStatistic"]) == ("Duration", "p99")
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (720_000, "GreaterThanThreshold")
    assert _alarm(without_jobs, "DurationNearTimeout")["Threshold"] == 480_000


def test_a_failure_queue_message_older_than_a_day_alarms(template: Template) -> None:
    alarm = _alarm(template, "FailureQueueUndrained")
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == (
        "ApproximateAgeOfOldestMessage",
        "Maximum",
        86_400,
    )
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_a_failed_large_scene_job_alarms(template: Template, without_jobs: Template) -> None:
    alarm = _alarm(template, "LargeSceneJobsFailed")
    failed_jobs = logical_id(template, "AWS::Events::Rule", "LargeScenes/FailedJobs")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("AWS/Events", "TriggeredRules", 1)
    assert alarm["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": failed_jobs}}]
    assert not [
        name for name in without_jobs.find_resources("AWS::CloudWatch::Alarm") if "LargeSceneJobsFailed" in name
    ]


def test_every_alarm_notifies_the_existing_topic(template: Template) -> None:
    topic = {"Ref": logical_id(template, "AWS::SNS::Topic", "Alarms/Topic")}
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    assert len(alarms) == 7
    assert all(alarm["Properties"]["AlarmActions"] == [topic] for alarm in alarms)


# The large-scene jobs' state log


def test_every_job_state_change_is_logged_and_counted_per_state(template: Template) -> None:
    rule_id = logical_id(template, "AWS::Events::Rule", "LargeScenes/States/Rule")
    rule = template.find_resources("AWS::Events::Rule")[rule_id]["Properties"]
    queue = logical_id(template, "AWS::Batch::JobQueue", "LargeScenes/Queue")
    assert rule["EventPattern"] == {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {"jobQueue": [{"Fn::GetAtt": [queue, "JobQueueArn"]}]},
    }
    group = logical_id(template, "AWS::Logs::LogGroup", "LargeScenes/States/Logs")
    assert _only(template, "AWS::Logs::MetricFilter") == {
        "FilterPattern": '{ $.detail.status = "*" }',  # FilterPattern.exists: any event with a status
        "LogGroupName": {"Ref": group},
        "MetricTransformations": [
            {
                "Dimensions": [{"Key": "status", "Value": "$.detail.status"}],
                "MetricName": "LargeSceneJobStateChanges",
                "MetricNamespace": "ImageryArchive",
                "MetricValue": "1",
                "Unit": "Count",
            }
        ],
    }
    name = template.find_resources("AWS::Logs::LogGroup")[group]["Properties"]["LogGroupName"]
    assert name == "/aws/events/ImageryArchive/large-scene-job-states", "EventBridge writes only to /aws/events/..."
    policy = json.dumps(_only(template, "AWS::Logs::ResourcePolicy"))
    assert "events.amazonaws.com" in policy
    assert group in policy


def test_the_access_log_bucket_keeps_versions_and_expires_them(template: Template) -> None:
    bucket_id = logical_id(template, "AWS::S3::Bucket", "Buckets/AccessLogs")
    properties = template.find_resources("AWS::S3::Bucket")[bucket_id]["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = next(rule for rule in properties["LifecycleConfiguration"]["Rules"] if rule["Id"] == "ExpireAccessLogs")
    assert (rule["ExpirationInDays"], rule["NoncurrentVersionExpiration"]) == (365, {"NoncurrentDays": 90})
