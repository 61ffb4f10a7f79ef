"""The CDK app's settings: defaults, the context forms users type, and errors that name the key to fix.

These are the app's settings (infra/settings.py), read from cdk.json context at synth time; the function's own
environment settings are tested in test_settings.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from imagery_archive.errors import SettingsError
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.settings import FunctionSettings
from infra.compression_function import function_environment
from infra.settings import DEFAULT_SUFFIXES, PipelineSettings
from tests.support.stack import cdk_json_context


def test_defaults_are_safe_for_large_scenes_and_keep_the_archive() -> None:
    settings = PipelineSettings.from_mapping({})
    assert settings.memory_mib == 4096
    assert settings.ephemeral_storage_mib == 10240
    assert settings.timeout_minutes == 15
    assert settings.archive_storage_class == "GLACIER"
    assert settings.destroy_buckets_with_stack is False
    assert settings.imagery_suffixes == DEFAULT_SUFFIXES
    assert settings.max_concurrency == 20, "a bulk upload must not take the account's whole concurrency"
    assert settings.output_bucket_versioned is False, "an imported bucket's versioning is not assumed"


def test_cdk_json_spells_out_the_defaults() -> None:
    """The shipped cdk.json is documentation users edit: it must agree with the code's defaults."""
    assert PipelineSettings.from_mapping(cdk_json_context()) == PipelineSettings()


def test_command_line_strings_are_parsed() -> None:
    """`-c key=value` always arrives as a string."""
    settings = PipelineSettings.from_mapping(
        {
            "quality": "85",
            "memoryMiB": "10240",
            "targetSsim": "0.98",
            "maxZError": "0",
            "destroyBucketsWithStack": "true",
            "imagerySuffixes": ".tif, .TIF",
            "compression": "webp",
            "architecture": "ARM64",
        }
    )
    assert settings.quality == 85
    assert settings.memory_mib == 10240
    assert settings.target_ssim == 0.98
    assert settings.max_z_error == 0.0
    assert settings.destroy_buckets_with_stack is True
    assert settings.imagery_suffixes == (".tif", ".TIF")
    assert settings.compression == "WEBP"
    assert settings.architecture == "arm64"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("quality", 0),
        ("quality", 101),
        ("quality", "high"),
        ("quality", True),
        ("compression", "LZW"),
        ("archiveStorageClass", "GLACIER_DEEP"),
        ("memoryMiB", 10241),
        ("memoryMiB", 64),
        ("ephemeralStorageMiB", 20480),
        ("timeoutMinutes", 16),
        ("architecture", "ppc64"),
        ("targetSsim", 1),
        ("targetSsim", 0),
        ("maxZError", -0.1),
        ("imagerySuffixes", []),
        ("imagerySuffixes", ["tif"]),
        ("imagerySuffixes", [".tif", ".geo.tif"]),
        ("inputBucketName", "My_Bucket"),
        ("destroyBucketsWithStack", "maybe"),
        ("outputPrefix", "output"),
        ("archivePrefix", "/archive/"),
        ("asyncRetryAttempts", 3),
        ("maxEventAgeHours", 7),
        ("alarmEmail", "oncall"),
        ("logLevel", "VERBOSE"),
        ("maxConcurrency", 0),
        ("maxConcurrency", 901),
        ("maxConcurrency", "many"),
        ("outputBucketVersioned", "perhaps"),
    ],
)
def test_invalid_values_fail_naming_the_context_key(key: str, value: Any) -> None:
    with pytest.raises(SettingsError, match=rf"cdk.json context '{key}' must be"):
        PipelineSettings.from_mapping({key: value})


@pytest.mark.parametrize(
    "context",
    [
        {},
        {
            "compression": "webp",
            "quality": "90",
            "targetSsim": 0.97,
            "maxZError": "0.5",
            "archiveStorageClass": "deep_archive",
            "outputPrefix": "cogs/",
            "archivePrefix": "originals/",
            "losslessPrefixes": ["landcover/", "masks/scl_"],
        },
    ],
    ids=["defaults", "tuned"],
)
def test_what_synthesizes_is_what_the_function_reads(context: dict[str, Any]) -> None:
    """The stack hands its settings to the function as environment variables: nothing may change on the way."""
    settings = PipelineSettings.from_mapping(context)
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/imagery-failures"
    received = FunctionSettings.from_env(function_environment(settings, "imagery-output", queue))
    assert received.failure_queue_url == queue
    assert received.lossless_prefixes == settings.lossless_prefixes
    assert received.profile == CompressionProfile(
        codec=settings.compression,
        quality=settings.quality,
        max_z_error=settings.max_z_error or 0.0,
        target_ssim=settings.target_ssim,
    )
    destinations = received.destinations
    assert (destinations.output_prefix, destinations.archive_prefix, destinations.storage_class) == (
        settings.output_prefix,
        settings.archive_prefix,
        settings.archive_storage_class,
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("quality", "7.5"),
        ("maxZError", "inf"),
        ("maxZError", "nan"),
        ("targetSsim", True),
        ("outputPrefix", "a*/"),
        ("losslessPrefixes", ["/landcover/"]),
    ],
)
def test_values_the_function_would_refuse_fail_the_synth(key: str, value: Any) -> None:
    with pytest.raises(SettingsError, match=rf"^cdk.json context '{key}' must be .*, got {re.escape(repr(value))}$"):
        PipelineSettings.from_mapping({key: value})


def test_the_function_may_not_write_into_the_bucket_that_triggers_it() -> None:
    with pytest.raises(SettingsError, match="'inputBucketName' and 'outputBucketName' must differ"):
        PipelineSettings.from_mapping({"inputBucketName": "imagery", "outputBucketName": "imagery"})


def test_compressed_images_and_archived_originals_stay_apart() -> None:
    with pytest.raises(SettingsError, match=r"'outputPrefix'.*'archivePrefix'"):
        PipelineSettings.from_mapping({"outputPrefix": "data/", "archivePrefix": "data/archive/"})


def test_settings_are_immutable() -> None:
    settings = PipelineSettings()
    with pytest.raises(AttributeError):
        settings.quality = 10  # type: ignore[misc]
