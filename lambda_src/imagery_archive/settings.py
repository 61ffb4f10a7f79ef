"""The function's configuration: environment variables read once, at start-up, into typed settings.

A wrong value fails the cold start with a message naming the variable, rather than failing every
object later with a less obvious error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from imagery_archive.errors import SettingsError
from imagery_archive.keys import Destinations
from imagery_archive.profiles import CODECS, CompressionProfile

SERVICE_NAME = "imagery-archive"
"""The service name in every log line and metric (Powertools' `service`), wherever the job runs."""

ARCHIVE_STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER_IR",
        "GLACIER",
        "DEEP_ARCHIVE",
    }
)


@dataclass(frozen=True)
class FunctionSettings:
    """Everything the function is told by its environment."""

    destinations: Destinations
    profile: CompressionProfile = field(default_factory=CompressionProfile)
    work_dir: str = "/tmp"
    gdal_cache_mb: int = 128
    """GDAL's block cache. Streaming a COG needs about one row of tiles; more only raises peak memory."""
    failure_queue_url: str | None = None
    """Where an object whose COG failed our own checks is reported at once (not retried); unset, such
    a failure is retried like a transient one."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FunctionSettings:
        """Read and validate the settings; raises `SettingsError` naming the first wrong variable."""
        env = os.environ if environ is None else environ
        output_bucket = env.get("OUTPUT_BUCKET", "").strip()
        if not output_bucket:
            raise SettingsError("OUTPUT_BUCKET is required: the bucket that receives output/ and archive/")
        return cls(
            destinations=Destinations(
                bucket=output_bucket,
                output_prefix=_prefix(env, "OUTPUT_PREFIX", "output/"),
                archive_prefix=_prefix(env, "ARCHIVE_PREFIX", "archive/"),
                storage_class=_choice(env, "ARCHIVE_STORAGE_CLASS", "GLACIER", ARCHIVE_STORAGE_CLASSES),
            ),
            profile=CompressionProfile(
                codec=_choice(env, "COMPRESSION", "JPEG", frozenset(CODECS)),
                quality=int(_number(env, "QUALITY", "75", low=1, high=100, integer=True)),
                max_z_error=_number(env, "MAX_Z_ERROR", "0", low=0, high=None),
                target_ssim=_optional_ssim(env),
            ),
            work_dir=env.get("CPL_TMPDIR") or env.get("TMPDIR") or "/tmp",
            gdal_cache_mb=int(_number(env, "GDAL_CACHEMAX", "128", low=16, integer=True)),
            failure_queue_url=_queue_url(env, "FAILURE_QUEUE_URL"),
        )


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    if not value or value.startswith("/") or not value.endswith("/"):
        raise SettingsError(f"{name}={value!r}: a key prefix must be non-empty, relative, and end with '/'")
    return value


def _queue_url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not value.startswith(("https://", "http://")):
        raise SettingsError(f"{name}={value!r} is not an SQS queue URL (https://sqs.<region>.amazonaws.com/...)")
    return value or None


def _choice(env: Mapping[str, str], name: str, default: str, allowed: frozenset[str]) -> str:
    value = env.get(name, default).strip().upper()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def _number(
    env: Mapping[str, str],
    name: str,
    default: str,
    *,
    low: float,
    high: float | None = None,
    integer: bool = False,
) -> float:
    raw = env.get(name, default).strip()
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise SettingsError(f"{name}={raw!r} is not {kind}") from None
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise SettingsError(f"{name}={raw!r} is out of range: it must be {bounds}")
    return value


def _optional_ssim(env: Mapping[str, str]) -> float | None:
    if not env.get("TARGET_SSIM", "").strip():
        return None
    value = _number(env, "TARGET_SSIM", "", low=0.0, high=1.0)
    if value in (0.0, 1.0):
        raise SettingsError(f"TARGET_SSIM={value} must lie strictly between 0 and 1")
    return value
