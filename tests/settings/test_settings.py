"""The function's configuration: defaults, and a clear error naming the variable for each bad value."""

from __future__ import annotations

import pytest

from imagery_archive.errors import SettingsError
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.settings import FunctionSettings

BUCKET = {"OUTPUT_BUCKET": "imagery-output"}


def settings(**env: str) -> FunctionSettings:
    return FunctionSettings.from_env({**BUCKET, **env})


def test_defaults():
    loaded = FunctionSettings.from_env(BUCKET)
    assert loaded.destinations.bucket == "imagery-output"
    assert (loaded.destinations.output_prefix, loaded.destinations.archive_prefix) == ("output/", "archive/")
    assert loaded.destinations.storage_class == "GLACIER"
    assert loaded.profile == CompressionProfile(codec="JPEG", quality=75, max_z_error=0.0, target_ssim=None)
    assert loaded.work_dir == "/tmp"
    assert loaded.gdal_cache_mb == 128


def test_every_variable_is_read():
    loaded = settings(
        OUTPUT_PREFIX="cogs/2026/",
        ARCHIVE_PREFIX="originals/",
        ARCHIVE_STORAGE_CLASS="DEEP_ARCHIVE",
        COMPRESSION="WEBP",
        QUALITY=" 90 ",
        MAX_Z_ERROR="0.25",
        TARGET_SSIM="0.97",
        CPL_TMPDIR="/mnt/scratch",
        GDAL_CACHEMAX="512",
    )
    assert (loaded.destinations.output_prefix, loaded.destinations.archive_prefix) == ("cogs/2026/", "originals/")
    assert loaded.destinations.storage_class == "DEEP_ARCHIVE"
    assert loaded.profile == CompressionProfile(codec="WEBP", quality=90, max_z_error=0.25, target_ssim=0.97)
    assert loaded.work_dir == "/mnt/scratch"
    assert loaded.gdal_cache_mb == 512


def test_work_dir_falls_back_to_tmpdir():
    assert settings(TMPDIR="/var/tmp").work_dir == "/var/tmp"
    assert settings(TMPDIR="/var/tmp", CPL_TMPDIR="/mnt/gdal").work_dir == "/mnt/gdal"


def test_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("OUTPUT_BUCKET", "from-the-environment")
    monkeypatch.setenv("QUALITY", "60")
    loaded = FunctionSettings.from_env()
    assert (loaded.destinations.bucket, loaded.profile.quality) == ("from-the-environment", 60)


@pytest.mark.parametrize(
    ("variable", "value", "canonical"),
    [
        ("ARCHIVE_STORAGE_CLASS", "glacier", "GLACIER"),
        ("ARCHIVE_STORAGE_CLASS", " deep_archive ", "DEEP_ARCHIVE"),
        ("COMPRESSION", "webp", "WEBP"),
        ("COMPRESSION", "Deflate", "DEFLATE"),
    ],
)
def test_choices_are_case_insensitive(variable, value, canonical):
    loaded = settings(**{variable: value})
    chosen = loaded.destinations.storage_class if variable == "ARCHIVE_STORAGE_CLASS" else loaded.profile.codec
    assert chosen == canonical


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "OUTPUT_BUCKET"),
        ({"OUTPUT_BUCKET": "   "}, "OUTPUT_BUCKET"),
        ({**BUCKET, "QUALITY": "0"}, "QUALITY"),
        ({**BUCKET, "QUALITY": "101"}, "QUALITY"),
        ({**BUCKET, "QUALITY": "abc"}, "QUALITY"),
        ({**BUCKET, "QUALITY": "7.5"}, "QUALITY"),
        ({**BUCKET, "ARCHIVE_STORAGE_CLASS": "COLD"}, "ARCHIVE_STORAGE_CLASS"),
        ({**BUCKET, "COMPRESSION": "PNG"}, "COMPRESSION"),
        ({**BUCKET, "OUTPUT_PREFIX": "output"}, "OUTPUT_PREFIX"),
        ({**BUCKET, "OUTPUT_PREFIX": ""}, "OUTPUT_PREFIX"),
        ({**BUCKET, "OUTPUT_PREFIX": "/output/"}, "OUTPUT_PREFIX"),
        ({**BUCKET, "ARCHIVE_PREFIX": "archive"}, "ARCHIVE_PREFIX"),
        ({**BUCKET, "TARGET_SSIM": "1.5"}, "TARGET_SSIM"),
        ({**BUCKET, "TARGET_SSIM": "1"}, "TARGET_SSIM"),
        ({**BUCKET, "TARGET_SSIM": "0"}, "TARGET_SSIM"),
        ({**BUCKET, "TARGET_SSIM": "high"}, "TARGET_SSIM"),
        ({**BUCKET, "MAX_Z_ERROR": "-1"}, "MAX_Z_ERROR"),
        ({**BUCKET, "MAX_Z_ERROR": "small"}, "MAX_Z_ERROR"),
        ({**BUCKET, "GDAL_CACHEMAX": "8"}, "GDAL_CACHEMAX"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(env, variable):
    with pytest.raises(SettingsError) as caught:
        FunctionSettings.from_env(env)
    message = str(caught.value)
    assert message.startswith(variable), f"the operator can't tell which variable is wrong: {message!r}"
    value = next((v for k, v in env.items() if k == variable), "")
    if value.strip():
        assert value.strip().upper() in message.upper(), f"the wrong value isn't shown: {message!r}"


def test_a_settings_error_is_a_value_error():
    with pytest.raises(ValueError, match="OUTPUT_BUCKET"):
        FunctionSettings.from_env({})


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MAX_Z_ERROR", "nan"), ("MAX_Z_ERROR", "inf"), ("TARGET_SSIM", "nan")],
)
def test_non_finite_numbers_are_refused(variable, value):
    with pytest.raises(SettingsError, match=variable):
        settings(**{variable: value})
