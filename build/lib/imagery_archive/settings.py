"""The function's configuration: environment variables read once, at start-up, into typed settings.

A wrong value fails the cold start with a message naming the variable, rather than failing every
object later with a less obvious error. The validators of the values the function takes (codec,
quality, error bound, SSIM target, storage class, key prefixes) are public: the CDK app checks its
`cdk.json` context with the same ones, so a value that synthesizes is a value the function accepts.
Each takes the name to put in its message (`QUALITY`, or "cdk.json context 'quality'") and the raw
value, a string from the environment or any JSON value from `cdk.json`. The defaults are those of
`CompressionProfile` and `Destinations`, written down once, there.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from imagery_archive.errors import SettingsError
from imagery_archive.imaging.profiles import CODECS, CompressionProfile
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.source_access import SOURCE_READ_CHOICES

SERVICE_NAME = "imagery-archive"
"""The service name in every log line and metric (Powertools' `service`), wherever the job runs."""
METRICS_NAMESPACE = "ImageryArchive"
"""The CloudWatch namespace of the deployed function's metrics (the stack sets it; tools use their own)."""

ARCHIVE_STORAGE_CLASSES = (
    "DEEP_ARCHIVE",
    "GLACIER",
    "GLACIER_IR",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "STANDARD",
    "STANDARD_IA",
)
"""The S3 storage classes an archived original may be copied into."""


@dataclass(frozen=True)
class LargeSceneRouting:
    """Where the function sends objects too large for its scratch space: one AWS Batch job each."""

    job_queue: str
    """The job queue's name or ARN (`LARGE_SCENE_JOB_QUEUE`)."""
    job_definition: str
    """The job definition's name, name:revision or ARN (`LARGE_SCENE_JOB_DEFINITION`)."""
    threshold_bytes: int
    """Objects of at least this size are routed (`LARGE_SCENE_BYTES`; the stack derives it from the
    function's ephemeral storage and the job's scratch rule)."""


@dataclass(frozen=True)
class FunctionSettings:
    """Everything the function is told by its environment."""

    destinations: Destinations
    profile: CompressionProfile = field(default_factory=CompressionProfile)
    work_dir: str = "/tmp"
    gdal_cache_mb: int = 128
    """GDAL's block cache. Streaming a COG needs about one row of tiles; more only raises peak memory."""
    source_read: str = "auto"
    """SOURCE_READ: stream originals from S3 or download them (`source_access.SOURCE_READ_CHOICES`)."""
    large_scenes: LargeSceneRouting | None = None
    """Set when large scenes go to AWS Batch; None: the function runs every object itself, as before."""
    failure_queue_url: str | None = None
    """Where an object whose COG failed our own checks is reported at once (not retried); unset, such
    a failure is retried like a transient one."""
    lossless_prefixes: tuple[str, ...] = ()
    """Key prefixes whose objects are all written losslessly (class maps the automatic rule can't see)."""

    def lossless_requested_for(self, key: str) -> bool:
        """Whether the operator asked for every object under this key's prefix to stay lossless."""
        return bool(self.lossless_prefixes) and key.startswith(self.lossless_prefixes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FunctionSettings:
        """Read and validate the settings; raises `SettingsError` naming the first wrong variable."""
        env = os.environ if environ is None else environ
        output_bucket = env.get("OUTPUT_BUCKET", "").strip()
        if not output_bucket:
            raise SettingsError("OUTPUT_BUCKET is required: the bucket that receives output/ and archive/")
        return cls(
            destinations=_destinations(env, output_bucket),
            profile=_profile(env),
            work_dir=env.get("CPL_TMPDIR") or env.get("TMPDIR") or cls.work_dir,
            gdal_cache_mb=parse_whole_number("GDAL_CACHEMAX", env.get("GDAL_CACHEMAX", cls.gdal_cache_mb), low=16),
            source_read=parse_choice(
                "SOURCE_READ", env.get("SOURCE_READ", cls.source_read), SOURCE_READ_CHOICES, str.lower
            ),
            large_scenes=_large_scene_routing(env),
            failure_queue_url=_queue_url(env, "FAILURE_QUEUE_URL"),
            lossless_prefixes=parse_key_prefixes("LOSSLESS_PREFIXES", env.get("LOSSLESS_PREFIXES", "")),
        )


def _destinations(env: Mapping[str, str], bucket: str) -> Destinations:
    return Destinations(
        bucket=bucket,
        output_prefix=parse_key_prefix("OUTPUT_PREFIX", env.get("OUTPUT_PREFIX", Destinations.output_prefix)),
        archive_prefix=parse_key_prefix("ARCHIVE_PREFIX", env.get("ARCHIVE_PREFIX", Destinations.archive_prefix)),
        storage_class=parse_storage_class(
            "ARCHIVE_STORAGE_CLASS", env.get("ARCHIVE_STORAGE_CLASS", Destinations.storage_class)
        ),
    )


@dataclass(frozen=True)
class JobSource:
    """The one object an archive job (`python3 -m imagery_archive.job`) is run for, and which upload it was."""

    location: ObjectLocation
    etag: str | None = None
    """The ETag of the upload the job was submitted for (`SOURCE_ETAG`), if known."""
    version_id: str | None = None
    """Its version (`SOURCE_VERSION_ID`), if the input bucket is versioned."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobSource:
        """Read `SOURCE_BUCKET`, `SOURCE_KEY` (the decoded key), `SOURCE_ETAG` and `SOURCE_VERSION_ID`."""
        env = os.environ if environ is None else environ
        bucket, key = env.get("SOURCE_BUCKET", "").strip(), env.get("SOURCE_KEY", "")
        if not bucket or not key:
            raise SettingsError("SOURCE_BUCKET and SOURCE_KEY are required: the object this job archives")
        return cls(
            ObjectLocation(bucket, key),
            etag=env.get("SOURCE_ETAG", "").strip().strip('"') or None,
            version_id=env.get("SOURCE_VERSION_ID", "").strip() or None,
        )


def _large_scene_routing(env: Mapping[str, str]) -> LargeSceneRouting | None:
    """Both job variables, or neither: a queue without a definition (or the reverse) is a broken deployment."""
    queue = env.get("LARGE_SCENE_JOB_QUEUE", "").strip()
    definition = env.get("LARGE_SCENE_JOB_DEFINITION", "").strip()
    if not queue and not definition:
        return None
    if not queue or not definition:
        raise SettingsError(
            "LARGE_SCENE_JOB_QUEUE and LARGE_SCENE_JOB_DEFINITION go together: set both to route large "
            "scenes to AWS Batch, or neither"
        )
    if not env.get("LARGE_SCENE_BYTES", "").strip():
        raise SettingsError(
            "LARGE_SCENE_BYTES is required with LARGE_SCENE_JOB_QUEUE: the size, in bytes, from "
            "which an object goes to the job"
        )
    threshold = parse_whole_number("LARGE_SCENE_BYTES", env["LARGE_SCENE_BYTES"], low=1)
    return LargeSceneRouting(job_queue=queue, job_definition=definition, threshold_bytes=threshold)


def _queue_url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not value.startswith(("https://", "http://")):
        raise invalid_setting(name, "an SQS queue URL (https://sqs.<region>.amazonaws.com/...)", value)
    return value or None


def _profile(env: Mapping[str, str]) -> CompressionProfile:
    target_ssim = env.get("TARGET_SSIM", "")
    return CompressionProfile(
        codec=parse_codec("COMPRESSION", env.get("COMPRESSION", CompressionProfile.codec)),
        quality=parse_quality("QUALITY", env.get("QUALITY", CompressionProfile.quality)),
        max_z_error=parse_max_z_error("MAX_Z_ERROR", env.get("MAX_Z_ERROR", CompressionProfile.max_z_error)),
        target_ssim=parse_target_ssim("TARGET_SSIM", target_ssim) if target_ssim.strip() else None,
    )


def invalid_setting(name: str, expected: str, raw: object) -> SettingsError:
    """The error for a wrong value: `name` (the variable or context key) comes first."""
    return SettingsError(f"{name} must be {expected}, got {raw!r}")


def parse_whole_number(name: str, raw: object, *, low: int, high: int | None = None) -> int:
    """An integer (or its text) from `low` to `high`; a bool, a fraction or other text is refused."""
    expected = f"a whole number from {low} to {high}" if high is not None else f"a whole number of at least {low}"
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise invalid_setting(name, expected, raw)
    try:
        value = int(raw)
    except ValueError:
        raise invalid_setting(name, expected, raw) from None
    if value < low or (high is not None and value > high):
        raise invalid_setting(name, expected, raw)
    return value


def parse_number(name: str, raw: object, expected: str) -> float:
    """A finite number (or its text); a bool, NaN or infinity is refused. `expected` describes the range."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise invalid_setting(name, expected, raw)
    try:
        value = float(raw)
    except ValueError:
        raise invalid_setting(name, expected, raw) from None
    if not math.isfinite(value):
        raise invalid_setting(name, expected, raw)
    return value


def parse_choice(name: str, raw: object, allowed: Iterable[str], normalise: Callable[[str], str] = str.upper) -> str:
    """One of `allowed`, in any letter case and with spaces around it; returned as `normalise` spells it."""
    choices = tuple(allowed)
    if not isinstance(raw, str) or normalise(raw.strip()) not in choices:
        raise invalid_setting(name, "one of " + ", ".join(choices), raw)
    return normalise(raw.strip())


def parse_codec(name: str, raw: object) -> str:
    """The codec for 8-bit imagery (`CompressionProfile.codec`)."""
    return parse_choice(name, raw, CODECS)


def parse_quality(name: str, raw: object) -> int:
    """The JPEG/WEBP quality, 1-100."""
    return parse_whole_number(name, raw, low=1, high=100)


def parse_max_z_error(name: str, raw: object) -> float:
    """The error bound for 16-bit and float imagery: 0 (lossless) or more."""
    expected = "a number >= 0"
    value = parse_number(name, raw, expected)
    if value < 0:
        raise invalid_setting(name, expected, raw)
    return value


def parse_target_ssim(name: str, raw: object) -> float:
    """The SSIM the JPEG/WEBP quality is chosen to reach: strictly between 0 and 1."""
    expected = "a number between 0 and 1 (exclusive)"
    value = parse_number(name, raw, expected)
    if not 0 < value < 1:
        raise invalid_setting(name, expected, raw)
    return value


def parse_storage_class(name: str, raw: object) -> str:
    """The storage class of archived originals."""
    return parse_choice(name, raw, ARCHIVE_STORAGE_CLASSES)


def parse_key_prefixes(name: str, raw: object) -> tuple[str, ...]:
    """Key prefixes, as a list or one comma-separated string: each relative and non-empty ('' is none)."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise invalid_setting(name, "a list of key prefixes such as ['landcover/', 'masks/scl_']", raw)
    prefixes = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    if any(prefix.startswith("/") or "," in prefix for prefix in prefixes):
        raise invalid_setting(name, "key prefixes without a leading '/' or a comma", raw)
    return prefixes


def parse_key_prefix(name: str, raw: object) -> str:
    """A key prefix: non-empty, relative, ending in '/', and without '*' (which IAM reads as a wildcard)."""
    if not isinstance(raw, str) or not raw.endswith("/") or raw.startswith("/") or "*" in raw:
        raise invalid_setting(name, "a key prefix ending in '/' (for example 'output/')", raw)
    return raw
