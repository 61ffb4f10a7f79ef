"""The container's own `handler`, run in this process: what the demo and the backfill deliver events to.

The pipeline reads its settings from the environment when it is built (a cold start), so the
environment is set first, and put back afterwards. Everything the function prints (Powertools JSON
logs and EMF metrics, as CloudWatch would receive them) goes to a log file; its warnings and errors
are also echoed, one line each, so nothing that goes wrong is hidden. Every S3 call the function's
client makes is recorded through botocore's event hooks, which is how the demo shows the order of
copy, verify and delete as it really happened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from imagery_archive.archiving.outcomes import ObjectResult
from imagery_archive.entrypoints.large_scene_routing import LargeSceneJobs
from imagery_archive.entrypoints.pipeline import LambdaHandler, Pipeline, RetryableError, lambda_handler
from imagery_archive.imaging.compress import gdal_configuration_restored
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.s3_calls import CallTrail, S3Call


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "imagery-archive-local"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:imagery-archive-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Invocation:
    """One event delivered to the handler: the object, what the handler said, how long it took."""

    bucket: str
    key: str
    result: ObjectResult
    seconds: float
    calls: tuple[S3Call, ...]


class EchoWarnings(logging.Handler):
    """Sends the function's warnings and errors to `echo`, one readable line each."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        parts = [f"function {record.levelname.lower()}: {record.getMessage()}"]
        reason = str(getattr(record, "reason", ""))
        subject = str(getattr(record, "object", ""))
        parts += [text for text in (subject if subject not in reason else "", reason) if text]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
        self._echo(": ".join(parts))


class LocalFunction:
    """`with LocalFunction(env, log) as function: function.invoke(client, bucket, key)`."""

    def __init__(self, env: Mapping[str, str], log: TextIO, echo: Callable[[str], None] | None = None) -> None:
        self.env = dict(env)
        self.log = log
        self.echo = echo or (lambda line: print(line, file=sys.stderr))
        self.trail = CallTrail()
        self.pipeline: Pipeline | None = None
        self._handler: LambdaHandler | None = None
        self._saved_env: dict[str, str | None] = {}
        self._cleanup = contextlib.ExitStack()

    def __enter__(self) -> LocalFunction:
        # GDAL reads an option from the environment when it isn't set: saved before the environment changes.
        self._cleanup.enter_context(gdal_configuration_restored())  # the pipeline configures GDAL for its scratch
        self._saved_env = {name: os.environ.get(name) for name in self.env}
        os.environ.update(self.env)
        self._cleanup.callback(self._restore_env)
        with contextlib.redirect_stdout(self.log):
            pipeline = Pipeline.from_env()  # a cold start: settings are read again
        self.pipeline, self._handler = pipeline, lambda_handler(pipeline)
        powertools_handler = pipeline.logger.registered_handler
        if isinstance(powertools_handler, logging.StreamHandler):
            previous = powertools_handler.setStream(self.log)
            self._cleanup.callback(powertools_handler.setStream, previous)
        echo = EchoWarnings(self.echo)
        pipeline.logger.addHandler(echo)
        self._cleanup.callback(logging.getLogger(pipeline.logger.name).removeHandler, echo)
        self.trail.attach(pipeline.store.client)
        self._cleanup.callback(self.trail.detach, pipeline.store.client)
        return self

    @property
    def large_scenes(self) -> LargeSceneJobs:
        """The pipeline's large-scene router: only a function configured with `LARGE_SCENE_JOB_QUEUE` has one."""
        if self.pipeline is None or self.pipeline.large_scenes is None:
            raise RuntimeError("this local function routes no large scenes: set LARGE_SCENE_JOB_QUEUE")
        return self.pipeline.large_scenes

    def __exit__(self, *_: object) -> None:
        self._cleanup.close()

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def invoke(self, client: Any, bucket: str, key: str) -> Invocation:
        """Deliver one ObjectCreated event for `key` (built from the real object) and wait for the handler."""
        assert self._handler is not None, "use LocalFunction as a context manager"
        event = event_for_objects(client, bucket, [key])
        first_call = len(self.trail.calls)
        started = time.perf_counter()
        with contextlib.redirect_stdout(self.log):
            try:
                response = self._handler(event, LambdaContext())
                (result,) = (ObjectResult.from_json(item) for item in response["results"])
            except RetryableError as error:
                (result,) = error.results
        seconds = time.perf_counter() - started
        self.log.flush()
        return Invocation(bucket, key, result, seconds, tuple(self.trail.calls[first_call:]))
