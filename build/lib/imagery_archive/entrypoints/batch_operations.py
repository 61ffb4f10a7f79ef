"""S3 Batch Operations' side of the function: its invocation event in, its documented response out.

S3 Batch Operations invokes the function synchronously with one or more tasks (one object each) and
reads one result per task: `Succeeded`; `TemporaryFailure`, which Batch Operations retries before the
job ends; or `PermanentFailure`, which goes into the job's completion report with the result string.
Schema 1.0 names the bucket by ARN (`s3BucketArn`); 2.0 by name (`s3Bucket`) and adds the job's
`userArguments`. Keys arrive URL-encoded, as the manifest holds them. Powertools parses the event
(`S3BatchOperationEvent`) and types the response (`S3BatchOperationResponse`); what is ours is which result
code each outcome gets, and which tasks must not run.
See https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-invoke-lambda.html

Nothing here raises for one bad task: a task that can't be parsed gets its own `PermanentFailure`.
No S3 and no boto3 here (the CDK app imports the prefixes): `imagery_archive.entrypoints.task_standing` asks S3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationEvent,
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
    S3BatchOperationTask,
)

from imagery_archive.archiving.outcomes import ObjectResult, Outcome
from imagery_archive.s3.keys import ObjectLocation, is_imagery_key

MANIFESTS_PREFIX = "batch-operations/manifests/"
"""Where the tools put the manifests of their jobs, in the output bucket; the job's role may read only here."""
REPORTS_PREFIX = "batch-operations/reports/"
"""Where Batch Operations writes completion reports, in the output bucket; the job's role may write only here."""
RESULT_STRING_LIMIT = 512
"""Result strings are kept short: they are copied into every line of the completion report."""


class ResultCode(StrEnum):
    """What Batch Operations does with a task, per the documented response."""

    SUCCEEDED = "Succeeded"
    TEMPORARY_FAILURE = "TemporaryFailure"
    """Retried by Batch Operations before the job completes."""
    PERMANENT_FAILURE = "PermanentFailure"
    """Not retried; listed in the completion report with the result string."""


TREAT_MISSING_KEYS_AS = ResultCode.PERMANENT_FAILURE
"""The response's `treatMissingKeysAs`: the code of a task the response has no result for. The handler
answers every task, so this never applies; should one ever be left out, it is reported, not counted done."""

_CODES = {
    Outcome.ARCHIVED: ResultCode.SUCCEEDED,
    Outcome.ALREADY_ARCHIVED: ResultCode.SUCCEEDED,
    Outcome.SKIPPED: ResultCode.SUCCEEDED,
    Outcome.ROUTED: ResultCode.SUCCEEDED,
    Outcome.GONE: ResultCode.PERMANENT_FAILURE,
    Outcome.FAILED: ResultCode.PERMANENT_FAILURE,
    Outcome.SOURCE_CHANGED: ResultCode.TEMPORARY_FAILURE,
    Outcome.RETRY: ResultCode.TEMPORARY_FAILURE,
    Outcome.NEEDS_ATTENTION: ResultCode.PERMANENT_FAILURE,
}
"""SOURCE_CHANGED is retried: unlike a notification, a manifest line gets no second event for the new upload."""

_WORDS = {
    Outcome.ARCHIVED: "archived",
    Outcome.ALREADY_ARCHIVED: "already archived",
    Outcome.SKIPPED: "skipped",
    Outcome.ROUTED: "handed to the large-scene job",
    Outcome.GONE: "missing: no such key, and no archived copy",
    Outcome.FAILED: "failed (tagged, left in place)",
    Outcome.SOURCE_CHANGED: "replaced during processing (left in place, retried)",
    Outcome.RETRY: "transient error (left in place, retried)",
    Outcome.NEEDS_ATTENTION: "our COG failed its checks (left in place untagged, sent to the failure queue)",
}


class MalformedTaskError(ValueError):
    """A task without its id, bucket or key: answered `PermanentFailure` on its own, the others still run."""


def task_location(task: S3BatchOperationTask) -> ObjectLocation:
    """The object a task names (its key decoded), pinned to the version the manifest named: S3 writes "null" for
    objects stored before versioning, which is no version to pin."""
    try:
        task_id, bucket, key = task.task_id, task.s3_bucket, task.s3_key
    except KeyError as missing:
        raise MalformedTaskError(f"malformed task (no {missing.args[0]}): {dict(task)}") from None
    if not (task_id and bucket and key):
        raise MalformedTaskError(f"malformed task (no taskId, bucket or key): {dict(task)}")
    version = task.s3_version_id
    return ObjectLocation(bucket, key, None if version in (None, "", "null") else version)


def response_to(event: S3BatchOperationEvent, results: Sequence[S3BatchOperationResponseRecord]) -> dict[str, Any]:
    """The documented response: the event's schema version and invocation ID, one result per task.

    S3 Batch Operations sends one task per invocation, the one case Powertools' `asdict` takes; a hand-made
    event with several tasks gets every task's result, each serialized by Powertools, in the same document.
    """
    answers = [
        S3BatchOperationResponse(
            event.invocation_schema_version, event.invocation_id, TREAT_MISSING_KEYS_AS.value, [result]
        ).asdict()
        for result in results
    ]
    if len(answers) == 1:
        return answers[0]
    return {
        "invocationSchemaVersion": event.invocation_schema_version,
        "treatMissingKeysAs": TREAT_MISSING_KEYS_AS.value,
        "invocationId": event.invocation_id,
        "results": [answer["results"][0] for answer in answers],
    }


def is_batch_operations_event(event: Mapping[str, Any]) -> bool:
    """True for an S3 Batch Operations invocation (an S3 notification has `Records` instead)."""
    return "invocationSchemaVersion" in event and "tasks" in event


def task_result(task: S3BatchOperationTask, result: ObjectResult) -> S3BatchOperationResponseRecord:
    """The answer for a task the job ran: a failure to tag a bad original is retried like any transient error."""
    code = ResultCode.TEMPORARY_FAILURE if result.retry_cause is not None else _CODES[result.outcome]
    words = _WORDS[result.outcome]
    if result.outcome is Outcome.FAILED and result.retry_cause is not None:
        words = "failed, and could not be tagged (retried)"
    return answer(task, code, f"{words}: {result.reason}" if result.reason else words)


def answer(task: S3BatchOperationTask, code: ResultCode, text: str) -> S3BatchOperationResponseRecord:
    """A result with its string cut to `RESULT_STRING_LIMIT` (a malformed task is answered under the id it has)."""
    if len(text) > RESULT_STRING_LIMIT:
        text = text[: RESULT_STRING_LIMIT - 3] + "..."
    return S3BatchOperationResponseRecord(str(task.get("taskId", "")), code.value, text)


@dataclass(frozen=True)
class Standing:
    """What S3 says about a task's object (the version it names) before any work: whether it exists, and any
    failure mark."""

    exists: bool
    failed_reason: str | None = None
    """The reason tag of an original an earlier run marked failed; None if it isn't marked."""


def refusal(
    task: S3BatchOperationTask, location: ObjectLocation, standing: Standing
) -> S3BatchOperationResponseRecord | None:
    """The answer for a task that must not run as asked, or None to run it.

    - not imagery (an inventory lists every object): succeeded, skipped, so a job over a mixed bucket
      doesn't trip Batch Operations' failure threshold;
    - an original an earlier run tagged failed: not downloaded again (`--retry-failed` clears the tag).
    """
    if not is_imagery_key(location.key):
        return answer(task, ResultCode.SUCCEEDED, "skipped: not an imagery key")
    if not standing.exists:
        return None  # the job says whether it is archived already or missing
    if standing.failed_reason is not None:
        return answer(
            task,
            ResultCode.PERMANENT_FAILURE,
            f"failed earlier (tagged, left in place): {standing.failed_reason}; "
            "fix it and run the backfill with --retry-failed",
        )
    return None
