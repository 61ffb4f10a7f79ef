"""Where each object goes: `d/scene.ntf` -> `output/d/scene.tif` and `archive/d/scene.ntf`."""

from __future__ import annotations

from urllib.parse import unquote_plus


def event_key(raw_key: str) -> str:
    """The real key of an S3 event's URL-encoded one (spaces arrive as '+', unicode as %XX)."""
    return unquote_plus(raw_key)


def output_key(key: str, prefix: str) -> str:
    """The compressed COG's key: the same path under `prefix`, with a `.tif` suffix."""
    folder, _, name = key.rpartition("/")
    stem, dot, _suffix = name.rpartition(".")
    if not dot or not stem:  # no suffix, or a dot-file such as '.scene'
        stem = name
    return f"{prefix}{folder}{'/' if folder else ''}{stem}.tif"


def archive_key(key: str, prefix: str) -> str:
    """The archived original's key: the same path, untouched, under `prefix`."""
    return f"{prefix}{key}"


def is_pipeline_product(key: str, prefixes: tuple[str, ...]) -> bool:
    """True for keys the pipeline itself writes, which must never be processed again (no recursion)."""
    return key.startswith(prefixes)
