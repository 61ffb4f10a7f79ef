"""The app's settings, read once from CDK context (`cdk.json`, or `-c key=value` on the command line).

Every value is validated here, at synth time, so a typo fails in seconds with the context key named, instead
of as a failed deployment or a function that errors on every upload. The values passed on to the function
(codec, quality, error bound, SSIM target, storage class, prefixes) are checked by the function's own
validators (`imagery_archive.settings`): what synthesizes is what the function accepts at cold start.
Only the stack's own keys (sizing, buckets, suffixes, alarms) have their validators here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from constructs import Node

from imagery_archive.errors import SettingsError
from imagery_archive.keys import IMAGERY_FORMATS, Destinations
from imagery_archive.profiles import CompressionProfile
from imagery_archive.settings import (
    invalid_setting,
    parse_choice,
    parse_codec,
    parse_key_prefix,
    parse_max_z_error,
    parse_quality,
    parse_storage_class,
    parse_target_ssim,
    parse_whole_number,
)

ARCHITECTURES = ("x86_64", "arm64")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LAMBDA_MAX_MIB = 10_240
LAMBDA_MAX_TIMEOUT_MINUTES = 15
# Lambda retries a failed asynchronous invocation at most twice and keeps an event at most six hours.
LAMBDA_MAX_ASYNC_RETRIES = 2
LAMBDA_MAX_EVENT_AGE_HOURS = 6
# Lambda keeps at least 100 of an account's default 1,000 concurrent executions unreserved.
LAMBDA_MAX_RESERVED_CONCURRENCY = 900

DEFAULT_SUFFIXES = tuple(
    spelling for suffixes in IMAGERY_FORMATS.values() for spelling in (*suffixes, *(s.upper() for s in suffixes))
)
"""The function's imagery suffixes in the two spellings cameras and tools write: S3 filters are case-sensitive."""

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (the common subset).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")

Parse = Callable[[str, Any], Any]
"""A validator: (the name to put in a message, the raw context value) -> the typed value."""


@dataclass(frozen=True)
class PipelineSettings:
    """What a user can tune, with the defaults the README documents.

    The memory default (4096 MiB) is sized for 10 GB-class scenes: the function streams through /tmp rather
    than memory, but GDAL's block cache and the overview pass want a few GB, and Lambda's CPU share grows with
    memory (4096 MiB is about 2.3 vCPUs), which shortens the 15-minute budget's critical path.
    """

    compression: str = CompressionProfile.codec
    quality: int = CompressionProfile.quality
    target_ssim: float | None = None
    max_z_error: float | None = None
    """None leaves MAX_Z_ERROR out of the function's environment: the function's default applies."""
    archive_storage_class: str = Destinations.storage_class
    output_prefix: str = Destinations.output_prefix
    archive_prefix: str = Destinations.archive_prefix
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
            field: parse(f"cdk.json context {key!r}", context[key])
            for key, (field, parse) in _PARSERS.items()
            if context.get(key) is not None
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


def _whole_number(low: int, high: int) -> Parse:
    return lambda name, raw: parse_whole_number(name, raw, low=low, high=high)


def _choice(choices: tuple[str, ...], normalise: Callable[[str], str] = str.upper) -> Parse:
    return lambda name, raw: parse_choice(name, raw, choices, normalise)


def _boolean(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).strip().lower() in _TRUE:
        return True
    if str(raw).strip().lower() in _FALSE:
        return False
    raise invalid_setting(name, "true or false", raw)


def _matching(pattern: re.Pattern[str], expected: str) -> Parse:
    def parse(name: str, raw: object) -> str:
        if not isinstance(raw, str) or not pattern.match(raw):
            raise invalid_setting(name, expected, raw)
        return raw

    return parse


def _suffixes(name: str, raw: object) -> tuple[str, ...]:
    """A list, or a comma-separated string from `-c imagerySuffixes=.tif,.TIF`.

    S3 rejects two ObjectCreated filters where one suffix ends with the other ("overlapping"), so that is
    caught here rather than halfway through a deployment.
    """
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise invalid_setting(name, "a list of file name suffixes such as ['.tif', '.TIF']", raw)
    suffixes = tuple(dict.fromkeys(item.strip() for item in items))
    if not suffixes or not all(suffix.startswith(".") and len(suffix) > 1 for suffix in suffixes):
        raise invalid_setting(name, "a non-empty list of suffixes that each start with '.'", raw)
    for suffix in suffixes:
        for other in suffixes:
            if suffix != other and suffix.endswith(other):
                raise invalid_setting(name, f"suffixes that don't overlap (S3 rejects {suffix!r} with {other!r})", raw)
    return suffixes


_PARSERS: dict[str, tuple[str, Parse]] = {
    "compression": ("compression", parse_codec),
    "quality": ("quality", parse_quality),
    "targetSsim": ("target_ssim", parse_target_ssim),
    "maxZError": ("max_z_error", parse_max_z_error),
    "archiveStorageClass": ("archive_storage_class", parse_storage_class),
    "outputPrefix": ("output_prefix", parse_key_prefix),
    "archivePrefix": ("archive_prefix", parse_key_prefix),
    "memoryMiB": ("memory_mib", _whole_number(128, LAMBDA_MAX_MIB)),
    "ephemeralStorageMiB": ("ephemeral_storage_mib", _whole_number(512, LAMBDA_MAX_MIB)),
    "timeoutMinutes": ("timeout_minutes", _whole_number(1, LAMBDA_MAX_TIMEOUT_MINUTES)),
    "architecture": ("architecture", _choice(ARCHITECTURES, normalise=str.lower)),
    "imagerySuffixes": ("imagery_suffixes", _suffixes),
    "inputBucketName": ("input_bucket_name", _matching(_BUCKET_NAME, "an S3 bucket name")),
    "outputBucketName": ("output_bucket_name", _matching(_BUCKET_NAME, "an S3 bucket name")),
    "destroyBucketsWithStack": ("destroy_buckets_with_stack", _boolean),
    "asyncRetryAttempts": ("async_retry_attempts", _whole_number(0, LAMBDA_MAX_ASYNC_RETRIES)),
    "maxEventAgeHours": ("max_event_age_hours", _whole_number(1, LAMBDA_MAX_EVENT_AGE_HOURS)),
    "alarmEmail": ("alarm_email", _matching(_EMAIL, "an e-mail address")),
    "logLevel": ("log_level", _choice(LOG_LEVELS)),
    "maxConcurrency": ("max_concurrency", _whole_number(1, LAMBDA_MAX_RESERVED_CONCURRENCY)),
    "outputBucketVersioned": ("output_bucket_versioned", _boolean),
}
"""Context key -> (settings field, validator). The function's own values use the function's validators."""

CONTEXT_KEYS = tuple(_PARSERS)
"""Every key the app reads; the README's settings table documents each one (a test checks)."""
