"""X-Ray traces of the function: one span per object, annotated with its bucket, key and outcome, and inside it
one span per step (tags, inspect, read, compress, upload, archive, verify, describe, catalogue, delete), so one slow
object can be followed through S3, GDAL and the archive copy. Powertools patches botocore, so every S3, SQS and
Batch call is a span of its own, under the step that made it.

Tracing is on only in Lambda with active tracing: Powertools' Tracer turns itself off outside Lambda (tests,
the demo, the backfill) and with `POWERTOOLS_TRACE_DISABLED=true` (the large-scene job: Fargate has no X-Ray
daemon). Off, every span here is a no-op.

The archive copy and its verification run in a helper thread while the COG is made and uploads, and the Item
and thumbnail are built (describe) in another while it uploads; the uploader's tags are read (tags) while the
object is inspected. X-Ray keeps the current span per thread, so a step opened in another thread is first
attached to its object's span there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from aws_lambda_powertools import Tracer

from imagery_archive.archiving.outcomes import Outcome
from imagery_archive.s3.keys import ObjectLocation

OBJECT_SPAN = "object"
STEP_NAMES = {"download": "read", "catalog": "catalogue"}
"""Span names for the job's phases where they differ: the download is reading the original (a streamed read
happens inside 'compress'), and 'catalog' writes the STAC Item and thumbnail ('describe' builds them)."""


class ObjectSpan:
    """The span of one object: opens its steps' spans, from any thread, and records its outcome."""

    def __init__(self, tracer: Tracer, subsegment: Any | None) -> None:
        self._tracer = tracer
        self._subsegment = subsegment
        self._thread = threading.get_ident()

    def phase(self, name: str) -> AbstractContextManager[object]:
        """The span of the step `name` (a `JobReport` phase), a child of this object's span in any thread."""
        if self._subsegment is None:
            return nullcontext()
        if threading.get_ident() != self._thread:
            self._tracer.provider.set_trace_entity(self._subsegment)  # type: ignore[attr-defined]
        return self._tracer.provider.in_subsegment(name=STEP_NAMES.get(name, name))

    def finished(self, outcome: Outcome) -> None:
        """Annotate the object's span with what happened to it (searchable: `annotation.outcome = "failed"`)."""
        if self._subsegment is not None:
            self._subsegment.put_annotation("outcome", outcome.value)


@contextmanager
def object_span(tracer: Tracer, source: ObjectLocation) -> Iterator[ObjectSpan]:
    """A span for `source` while the block runs, annotated with its bucket and key; a no-op with tracing off."""
    if tracer.disabled:
        yield ObjectSpan(tracer, None)
        return
    with tracer.provider.in_subsegment(name=OBJECT_SPAN) as subsegment:
        subsegment.put_annotation("bucket", source.bucket)
        subsegment.put_annotation("object_key", source.key)
        yield ObjectSpan(tracer, subsegment)
