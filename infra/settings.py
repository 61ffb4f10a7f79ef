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

from imagery_archive.entrypoints.large_scene_routing import default_threshold, largest_original_for_scratch
from imagery_archive.errors import SettingsError
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import IMAGERY_FORMATS, Destinations
from imagery_archive.settings import (
    invalid_setting,
    parse_choice,
    parse_codec,
    parse_collection_id,
    parse_collections_by_prefix,
    parse_key_prefix,
    parse_key_prefixes,
    parse_max_z_error,
    parse_number,
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

MiB = 1024 * 1024
# AWS Batch on Fargate: the vCPU values a job may ask for, and the memory (MiB) each allows: (low, high, step).
FARGATE_VCPUS = (0.25, 0.5, 1, 2, 4, 8, 16)
FARGATE_MEMORY_MIB = {
    0.25: (512, 2048, 512),
    0.5: (1024, 4096, 1024),
    1: (2048, 8192, 1024),
    2: (4096, 16384, 1024),
    4: (8192, 30720, 1024),
    8: (16384, 61440, 4096),
    16: (32768, 122880, 8192),
}
FARGATE_STORAGE_GIB = (21, 200)
BATCH_MAX_TIMEOUT_HOURS = 14 * 24

DEFAULT_SUFFIXES = tuple(
    spelling for suffixes in IMAGERY_FORMATS.values() for spelling in (*suffixes, *(s.upper() for s in suffixes))
)
"""The function's imagery suffixes in the two spellings cameras and tools write: S3 filters are case-sensitive."""

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (the common subset).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")

Parse = Callable[[str, Any], Any]
"""A validator: (the name to put in a message, the raw context value) -> the typed value."""


@dataclass(frozen=True)
class PipelineSettings:
    """What a user can tune, with the defaults docs/configuration.md documents.

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
    large_scene_jobs: bool = True
    large_scene_bytes: int | None = None
    large_scene_max_vcpus: int = 16
    large_scene_vcpus: float = 4
    large_scene_memory_mib: int = 8192
    large_scene_storage_gib: int = 200
    large_scene_timeout_hours: int = 24
    vpc_id: str | None = None

    @property
    def large_scene_threshold_bytes(self) -> int:
        """Objects of at least this size go to the large-scene job: `largeSceneBytes`, or what the function's
        ephemeral storage can safely hold (`imagery_archive.entrypoints.large_scene_routing.default_threshold`)."""
        return self.large_scene_bytes or default_threshold(self.ephemeral_storage_mib * MiB)

    max_concurrency: int = 20
    """Reserved concurrency: a bulk upload runs at most this many scenes at once (the others wait in Lambda's
    event queue, up to `max_event_age_hours`), leaving the account's other functions their share and S3 a
    request rate it serves without throttling."""
    output_bucket_versioned: bool = False
    """The operator's word that an imported output bucket keeps versions; the stack can't check it."""
    lossless_prefixes: tuple[str, ...] = ()
    """Input key prefixes whose objects are always written losslessly (the function's LOSSLESS_PREFIXES)."""
    catalog_prefix: str = Destinations.catalog_prefix
    """Where the STAC Collections and root Catalog go in the output bucket (CATALOG_PREFIX)."""
    stac_collection: str = Destinations.collection_id
    """The stack's Collection: every Item's, unless `stac_collections` names another for its prefix."""
    stac_collections: tuple[tuple[str, str], ...] = ()
    """Input key prefix -> Collection id (STAC_COLLECTIONS)."""
    stac_api: bool = False
    """Also deploy pgSTAC, a STAC API and its loader (`infra.stac_api`); off, the stack stays serverless."""

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
        for key, prefix in (("outputPrefix", self.output_prefix), ("archivePrefix", self.archive_prefix)):
            if _nested(prefix, self.catalog_prefix):
                raise SettingsError(
                    f"cdk.json context {key!r} ({prefix!r}) and 'catalogPrefix' ({self.catalog_prefix!r}) must "
                    "not contain one another: an upload could then be given the key of a catalog document"
                )
        if _nested(self.output_prefix, self.archive_prefix):
            raise SettingsError(
                f"cdk.json context 'outputPrefix' ({self.output_prefix!r}) and 'archivePrefix' "
                f"({self.archive_prefix!r}) must not contain one another: compressed images and "
                "archived originals must stay apart"
            )
        self._check_large_scene_job()

    def _check_large_scene_job(self) -> None:
        """Fargate's vCPU/memory pairs, and a threshold the function can actually hold."""
        low, high, step = FARGATE_MEMORY_MIB[self.large_scene_vcpus]
        if not (low <= self.large_scene_memory_mib <= high and (self.large_scene_memory_mib - low) % step == 0):
            raise SettingsError(
                f"cdk.json context 'largeSceneMemoryMiB' must be from {low} to {high} in steps of {step} with "
                f"largeSceneVcpus={self.large_scene_vcpus:g} (Fargate's combinations), "
                f"got {self.large_scene_memory_mib}"
            )
        if self.large_scene_max_vcpus < self.large_scene_vcpus:
            raise SettingsError(
                f"cdk.json context 'largeSceneMaxVcpus' ({self.large_scene_max_vcpus}) must be at least "
                f"largeSceneVcpus ({self.large_scene_vcpus:g}), or no job could ever start"
            )
        holdable = largest_original_for_scratch(self.ephemeral_storage_mib * MiB)
        if self.large_scene_bytes is not None and self.large_scene_bytes > holdable:
            raise SettingsError(
                f"cdk.json context 'largeSceneBytes' ({self.large_scene_bytes}) must be at most {holdable}: the "
                f"function refuses larger originals with {self.ephemeral_storage_mib} MiB of ephemeral storage"
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


def _fargate_vcpus(key: str, raw: object) -> float:
    expected = "one of Fargate's vCPU values " + ", ".join(f"{value:g}" for value in FARGATE_VCPUS)
    value = parse_number(key, raw, expected)
    if value not in FARGATE_VCPUS:
        raise invalid_setting(key, expected, raw)
    return int(value) if value.is_integer() else value


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
    "largeSceneJobs": ("large_scene_jobs", _boolean),
    "largeSceneBytes": ("large_scene_bytes", _whole_number(1, 10 * 1024**4)),
    "largeSceneMaxVcpus": ("large_scene_max_vcpus", _whole_number(1, 4096)),
    "largeSceneVcpus": ("large_scene_vcpus", _fargate_vcpus),
    "largeSceneMemoryMiB": ("large_scene_memory_mib", _whole_number(512, 122880)),
    "largeSceneStorageGiB": ("large_scene_storage_gib", _whole_number(*FARGATE_STORAGE_GIB)),
    "largeSceneTimeoutHours": ("large_scene_timeout_hours", _whole_number(1, BATCH_MAX_TIMEOUT_HOURS)),
    "vpcId": ("vpc_id", _matching(_VPC_ID, "a VPC ID such as vpc-0123456789abcdef0")),
    "maxConcurrency": ("max_concurrency", _whole_number(1, LAMBDA_MAX_RESERVED_CONCURRENCY)),
    "outputBucketVersioned": ("output_bucket_versioned", _boolean),
    "losslessPrefixes": ("lossless_prefixes", parse_key_prefixes),
    "catalogPrefix": ("catalog_prefix", parse_key_prefix),
    "stacCollection": ("stac_collection", parse_collection_id),
    "stacCollections": ("stac_collections", parse_collections_by_prefix),
    "stacApi": ("stac_api", _boolean),
}
"""Context key -> (settings field, validator). The function's own values use the function's validators."""

CONTEXT_KEYS = tuple(_PARSERS)
"""Every key the app reads; docs/configuration.md documents each one (tests/test_docs.py checks)."""
