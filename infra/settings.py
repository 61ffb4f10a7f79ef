"""The app's settings, read once from CDK context (`cdk.json`, or `-c key=value` on the command line).

Every value is validated here, at synth time, so a typo fails in seconds with the context key named, instead
of as a failed deployment or a function that errors on every upload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from constructs import Node

from imagery_archive.profiles import CODECS
from imagery_archive.settings import ARCHIVE_STORAGE_CLASSES

COMPRESSIONS = tuple(CODECS)
STORAGE_CLASSES = tuple(sorted(ARCHIVE_STORAGE_CLASSES))
ARCHITECTURES = ("x86_64", "arm64")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LAMBDA_MAX_MIB = 10_240
LAMBDA_MAX_TIMEOUT_MINUTES = 15
# Lambda retries a failed asynchronous invocation at most twice and keeps an event at most six hours.
LAMBDA_MAX_ASYNC_RETRIES = 2
LAMBDA_MAX_EVENT_AGE_HOURS = 6
# Lambda keeps at least 100 of an account's default 1,000 concurrent executions unreserved.
LAMBDA_MAX_RESERVED_CONCURRENCY = 900

DEFAULT_SUFFIXES = (".tif", ".tiff", ".TIF", ".TIFF", ".ntf", ".nitf", ".NTF", ".NITF", ".jp2", ".JP2")

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (the common subset).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")

T = TypeVar("T")


class SettingsError(ValueError):
    """A context value that cannot work; the message names the context key and what it accepts."""


@dataclass(frozen=True)
class PipelineSettings:
    """What a user can tune, with the defaults the README documents.

    The memory default (4096 MiB) is sized for 10 GB-class scenes: the function streams through /tmp rather
    than memory, but GDAL's block cache and the overview pass want a few GB, and Lambda's CPU share grows with
    memory (4096 MiB is about 2.3 vCPUs), which shortens the 15-minute budget's critical path.
    """

    compression: str = "JPEG"
    quality: int = 75
    target_ssim: float | None = None
    max_z_error: float | None = None
    archive_storage_class: str = "GLACIER"
    output_prefix: str = "output/"
    archive_prefix: str = "archive/"
    memory_mib: int = 4096
    ephemeral_storage_mib: int = LAMBDA_MAX_MIB
    timeout_minutes: int = LAMBDA_MAX_TIMEOUT_MINUTES
    architecture: str = "x86_64"
    imagery_suffixes: tuple[str, ...] = DEFAULT_SUFFIXES
    input_bucket_name: str | None = None
    output_bucket_name: str | None = None
    destroy_buckets_with_stack: bool = False
    async_retry_attempts: int = LAMBDA_MAX_ASYNC_RETRIES
    max_event_age_hours: int = LAMBDA_MAX_EVENT_AGE_HOURS
    alarm_email: str | None = None
    log_level: str = "INFO"
    max_concurrency: int = 20
    """Reserved concurrency: a bulk upload runs at most this many scenes at once (the others wait in Lambda's
    event queue, up to `max_event_age_hours`), leaving the account's other functions their share and S3 a
    request rate it serves without throttling."""
    output_bucket_versioned: bool = False
    """The operator's word that an imported output bucket keeps versions; the stack can't check it."""

    @classmethod
    def from_context(cls, node: Node) -> PipelineSettings:
        """Reads every setting from `node`'s context; absent keys keep their defaults."""
        return cls.from_mapping({key: node.try_get_context(key) for key in _PARSERS})

    @classmethod
    def from_mapping(cls, context: dict[str, Any]) -> PipelineSettings:
        values = {
            field: parse(key, context[key]) for key, (field, parse) in _PARSERS.items() if context.get(key) is not None
        }
        settings = cls(**values)
        settings._check_consistency()
        return settings

    def _check_consistency(self) -> None:
        """Rules across keys: each would otherwise fail only at deploy time, or loop at run time."""
        if self.input_bucket_name and self.input_bucket_name == self.output_bucket_name:
            raise SettingsError(
                "cdk.json context 'inputBucketName' and 'outputBucketName' must differ: the function writes "
                "to the output bucket, and writing into the triggering bucket would retrigger it"
            )
        if _nested(self.output_prefix, self.archive_prefix):
            raise SettingsError(
                f"cdk.json context 'outputPrefix' ({self.output_prefix!r}) and 'archivePrefix' "
                f"({self.archive_prefix!r}) must not contain one another: compressed images and "
                "archived originals must stay apart"
            )


def _nested(first: str, second: str) -> bool:
    return first.startswith(second) or second.startswith(first)


def _fail(key: str, expected: str, raw: object) -> SettingsError:
    return SettingsError(f"cdk.json context {key!r} must be {expected}, got {raw!r}")


def _integer(low: int, high: int) -> Callable[[str, object], int]:
    def parse(key: str, raw: object) -> int:
        expected = f"an integer from {low} to {high}"
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise _fail(key, expected, raw)
        try:
            value = int(raw)
        except ValueError:
            raise _fail(key, expected, raw) from None
        if not low <= value <= high:
            raise _fail(key, expected, raw)
        return value

    return parse


def _number(expected: str, accept: Callable[[float], bool]) -> Callable[[str, object], float]:
    def parse(key: str, raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise _fail(key, expected, raw)
        try:
            value = float(raw)
        except ValueError:
            raise _fail(key, expected, raw) from None
        if not accept(value):
            raise _fail(key, expected, raw)
        return value

    return parse


def _choice(choices: Iterable[str], normalise: Callable[[str], str] = str.upper) -> Callable[[str, object], str]:
    allowed = tuple(choices)

    def parse(key: str, raw: object) -> str:
        value = normalise(str(raw).strip())
        if value not in allowed:
            raise _fail(key, "one of " + ", ".join(allowed), raw)
        return value

    return parse


def _boolean(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).strip().lower() in _TRUE:
        return True
    if str(raw).strip().lower() in _FALSE:
        return False
    raise _fail(key, "true or false", raw)


def _matching(pattern: re.Pattern[str], expected: str) -> Callable[[str, object], str]:
    def parse(key: str, raw: object) -> str:
        if not isinstance(raw, str) or not pattern.match(raw):
            raise _fail(key, expected, raw)
        return raw

    return parse


def _prefix(key: str, raw: object) -> str:
    if not isinstance(raw, str) or not raw.endswith("/") or raw.startswith("/") or "*" in raw:
        raise _fail(key, "a key prefix ending in '/' (for example 'output/')", raw)
    return raw


def _suffixes(key: str, raw: object) -> tuple[str, ...]:
    """A list, or a comma-separated string from `-c imagerySuffixes=.tif,.TIF`.

    S3 rejects two ObjectCreated filters where one suffix ends with the other ("overlapping"), so that is
    caught here rather than halfway through a deployment.
    """
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise _fail(key, "a list of file name suffixes such as ['.tif', '.TIF']", raw)
    suffixes = tuple(dict.fromkeys(item.strip() for item in items))
    if not suffixes or not all(suffix.startswith(".") and len(suffix) > 1 for suffix in suffixes):
        raise _fail(key, "a non-empty list of suffixes that each start with '.'", raw)
    for suffix in suffixes:
        for other in suffixes:
            if suffix != other and suffix.endswith(other):
                raise _fail(key, f"suffixes that don't overlap (S3 rejects {suffix!r} with {other!r})", raw)
    return suffixes


_PARSERS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "compression": ("compression", _choice(COMPRESSIONS)),
    "quality": ("quality", _integer(1, 100)),
    "targetSsim": ("target_ssim", _number("a number between 0 and 1 (exclusive)", lambda x: 0 < x < 1)),
    "maxZError": ("max_z_error", _number("a number >= 0", lambda x: x >= 0)),
    "archiveStorageClass": ("archive_storage_class", _choice(STORAGE_CLASSES)),
    "outputPrefix": ("output_prefix", _prefix),
    "archivePrefix": ("archive_prefix", _prefix),
    "memoryMiB": ("memory_mib", _integer(128, LAMBDA_MAX_MIB)),
    "ephemeralStorageMiB": ("ephemeral_storage_mib", _integer(512, LAMBDA_MAX_MIB)),
    "timeoutMinutes": ("timeout_minutes", _integer(1, LAMBDA_MAX_TIMEOUT_MINUTES)),
    "architecture": ("architecture", _choice(ARCHITECTURES, normalise=str.lower)),
    "imagerySuffixes": ("imagery_suffixes", _suffixes),
    "inputBucketName": ("input_bucket_name", _matching(_BUCKET_NAME, "an S3 bucket name")),
    "outputBucketName": ("output_bucket_name", _matching(_BUCKET_NAME, "an S3 bucket name")),
    "destroyBucketsWithStack": ("destroy_buckets_with_stack", _boolean),
    "asyncRetryAttempts": ("async_retry_attempts", _integer(0, LAMBDA_MAX_ASYNC_RETRIES)),
    "maxEventAgeHours": ("max_event_age_hours", _integer(1, LAMBDA_MAX_EVENT_AGE_HOURS)),
    "alarmEmail": ("alarm_email", _matching(_EMAIL, "an e-mail address")),
    "logLevel": ("log_level", _choice(LOG_LEVELS)),
    "maxConcurrency": ("max_concurrency", _integer(1, LAMBDA_MAX_RESERVED_CONCURRENCY)),
    "outputBucketVersioned": ("output_bucket_versioned", _boolean),
}
"""Context key -> (settings field, parser)."""

CONTEXT_KEYS = tuple(_PARSERS)
"""Every key the app reads; the README's settings table documents each one (a test checks)."""
