"""What happened to one object: one enum and one result type, shared by every entry point.

The Lambda handler, the backfill, the demo and the metrics all read these; nothing parses an
outcome back out of a string.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.source_access import SourceRead

if TYPE_CHECKING:
    from imagery_archive.imaging.results import CompressionResult


class Outcome(StrEnum):
    """The end state of one object; the value is the word logs and summaries use."""

    ARCHIVED = "archived"
    """Compressed, archived, verified, and the original deleted."""
    ALREADY_ARCHIVED = "already-archived"
    """A duplicate delivery: an earlier one already archived this object."""
    GONE = "gone"
    """The object was neither there nor archived: nothing to do."""
    SKIPPED = "skipped"
    """Not an image upload (a folder marker, or the pipeline's own output)."""
    FAILED = "failed"
    """Bad input: tagged with the reason and left in place; retrying can't help."""
    SOURCE_CHANGED = "source changed"
    """Replaced while it was processed; the new version has an event of its own."""
    RETRY = "retry"
    """A transient failure (throttling, network, disk): left in place, to be retried."""
    ROUTED = "routed"
    """Too large for the function: submitted, untouched, as one AWS Batch job (`imagery_archive.job`)."""
    NEEDS_ATTENTION = "sent to failure queue"
    """The function's own output failed its checks (an invalid COG): not the input's fault, and a retry
    would only repeat it. The original stays, untagged; its event goes to the failure queue at once."""

    @property
    def metric_name(self) -> str:
        """The CloudWatch metric that counts objects with this outcome."""
        return _METRIC_NAMES[self]


_METRIC_NAMES = {
    Outcome.ARCHIVED: "ImagesArchived",
    Outcome.ALREADY_ARCHIVED: "DuplicateDeliveries",
    Outcome.GONE: "Gone",
    Outcome.SKIPPED: "Skipped",
    Outcome.FAILED: "PermanentFailures",
    Outcome.SOURCE_CHANGED: "SourceChanged",
    Outcome.RETRY: "RetryableErrors",
    Outcome.ROUTED: "RoutedToLargeSceneJob",
    Outcome.NEEDS_ATTENTION: "NeedsAttention",
}


@dataclass(frozen=True)
class ObjectResult:
    """What happened to one object, and why."""

    source: ObjectLocation
    outcome: Outcome
    reason: str = ""
    report: JobReport | None = field(default=None, compare=False)
    """The job's report (timings, compression), for objects the job ran to the end."""
    retry_cause: BaseException | None = field(default=None, compare=False)
    """Set when the event must be retried for this object: a transient failure, or a bad original
    whose failure tag could not be written."""

    def __str__(self) -> str:
        return f"{self.outcome}: {self.reason}" if self.reason else str(self.outcome)

    def as_json(self) -> dict[str, str]:
        """The result as the handler returns it (JSON, as Lambda needs)."""
        return {"object": str(self.source), "outcome": self.outcome.value, "reason": self.reason}

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> ObjectResult:
        """A result the handler returned, typed again (by the local runner, say)."""
        return cls(ObjectLocation.from_uri(item["object"]), Outcome(item["outcome"]), item.get("reason", ""))


@dataclass
class JobReport:
    """What happened to one object; the handler logs it and turns it into metrics."""

    source: ObjectLocation
    output: ObjectLocation
    """Where the COG is (or goes): its usual key, or the alternate one if that holds another source's COG."""
    archived_copy: ObjectLocation
    """Where the original's archived copy is (or goes); see `placement`."""
    outcome: Outcome = Outcome.ARCHIVED
    """ARCHIVED, ALREADY_ARCHIVED (a duplicate delivery) or GONE (nothing to do)."""
    original_bytes: int = 0
    compression: CompressionResult | None = None
    """The `CompressionResult`, or None when a COG from an earlier delivery was reused."""
    seconds: dict[str, float] = field(default_factory=dict)
    read: SourceRead | None = None
    """How the original was read (streamed or downloaded) and why."""
    proof: str | None = None
    """What verified the archived copy: `archive_proof`'s label, e.g. 's3-crc64nvme'."""

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
