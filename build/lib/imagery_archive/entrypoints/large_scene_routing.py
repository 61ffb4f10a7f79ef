"""Scenes beyond the function's scratch space: routed, untouched, to the same job as one AWS Batch job.

The function can hold an original only if it fits in its ephemeral storage with its COG (the scratch
rule of `scratch.check_scratch_space`), and must finish within 15 minutes. Full satellite scenes,
aerial mosaics and DEMs of 5 to 100 GB don't; the function's own image runs them on AWS Batch
(Fargate) instead, as `python3 -m imagery_archive.job`, with the same guarantees.

This module decides (by size, from the event or HeadObject) and builds the SubmitJob request; the
Batch client is passed in. A duplicate delivery may submit a second job for the same upload: the job
is idempotent (the second finds the object archived), and both carry the same job name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagery_archive.archiving.scratch import check_scratch_space
from imagery_archive.errors import TooLargeError
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.settings import LargeSceneRouting

if TYPE_CHECKING:
    from imagery_archive.s3.storage import StoredObject

JOB_NAME_LIMIT = 128
"""AWS Batch job names: up to 128 characters, letters, digits, '-' and '_', the first alphanumeric."""
JOB_NAME_PREFIX = "archive-"
_NOT_IN_JOB_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_DIGEST_LENGTH = 10


@dataclass(frozen=True)
class Upload:
    """An uploaded object as its S3 event describes it (size, ETag and version may be missing)."""

    location: ObjectLocation
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None


@dataclass(frozen=True)
class SubmittedJob:
    """The Batch job that now owns an upload."""

    name: str
    job_id: str
    size: int

    def __str__(self) -> str:
        return f"AWS Batch job {self.name} ({self.job_id})"


def largest_original_for_scratch(scratch_bytes: int) -> int:
    """The largest original `check_scratch_space` lets through `scratch_bytes` of free space.

    Found by bisection on the rule itself, so the function's routing threshold can never disagree with
    the check that would otherwise refuse the object.
    """
    fits, too_large = 0, scratch_bytes + 1
    probe = ObjectLocation("bucket", "probe")
    while too_large - fits > 1:
        middle = (fits + too_large) // 2
        try:
            check_scratch_space(probe, middle, capacity=scratch_bytes, free=scratch_bytes)
        except TooLargeError:
            too_large = middle
        else:
            fits = middle
    return fits


def default_threshold(function_scratch_bytes: int) -> int:
    """The size from which the function routes an object, if not set: what it can safely hold.

    That is the largest original that passes `check_scratch_space` in half the function's scratch
    space: the other half is for the COG, which for lossless 16-bit or float imagery can be as large
    as the original (the scratch rule itself only counts a small COG).
    """
    return largest_original_for_scratch(function_scratch_bytes // 2)


def job_name(upload: Upload) -> str:
    """A valid Batch job name that shows the key's end and, by a short hash, which upload it is.

    The same upload always gets the same name, so a duplicate submission is recognisable in the console.
    """
    identity = f"{upload.location}\n{upload.etag or ''}\n{upload.version_id or ''}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:_DIGEST_LENGTH]
    readable = _NOT_IN_JOB_NAME.sub("_", upload.location.key).strip("_")
    room = JOB_NAME_LIMIT - len(JOB_NAME_PREFIX) - len(digest) - 1
    return f"{JOB_NAME_PREFIX}{readable[-room:]}-{digest}" if readable else f"{JOB_NAME_PREFIX}{digest}"


def job_environment(upload: Upload) -> list[dict[str, str]]:
    """The variables that tell the job which object, and which upload of it, to archive."""
    values = {
        "SOURCE_BUCKET": upload.location.bucket,
        "SOURCE_KEY": upload.location.key,
        "SOURCE_ETAG": (upload.etag or "").strip('"'),
        "SOURCE_VERSION_ID": upload.version_id or "",
    }
    return [{"name": name, "value": value} for name, value in values.items() if value]


def submit_job_request(upload: Upload, routing: LargeSceneRouting) -> dict[str, Any]:
    """The parameters of Batch's SubmitJob for `upload`: the job definition's command, these variables added."""
    return {
        "jobName": job_name(upload),
        "jobQueue": routing.job_queue,
        "jobDefinition": routing.job_definition,
        "containerOverrides": {"environment": job_environment(upload)},
    }


class LargeSceneJobs:
    """Submits uploads of at least `routing.threshold_bytes` to AWS Batch; smaller ones stay with the caller."""

    def __init__(
        self, batch_client: Any, routing: LargeSceneRouting, head: Callable[[ObjectLocation], StoredObject | None]
    ) -> None:
        self.client = batch_client
        self.routing = routing
        self._head = head

    def submit_if_large(self, upload: Upload) -> SubmittedJob | None:
        """The job now archiving `upload`, or None if the caller should (small, or already gone)."""
        if upload.size is None:
            stored = self._head(upload.location)  # events of every S3 upload carry the size; others may not
            if stored is None:
                return None
            upload = Upload(upload.location, stored.size, upload.etag or stored.etag, upload.version_id)
        assert upload.size is not None
        if upload.size < self.routing.threshold_bytes:
            return None
        response = self.client.submit_job(**submit_job_request(upload, self.routing))
        return SubmittedJob(response["jobName"], response["jobId"], upload.size)
