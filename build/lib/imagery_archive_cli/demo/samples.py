"""The bundled imagery (`sample_data/`, attributed in its MANIFEST.tsv) that the demo and the benchmark run on.

The demo runs from a checkout of the repository: `sample_data/` is not installed with the package.
"""

from __future__ import annotations

from pathlib import Path

from imagery_archive.s3.keys import is_imagery_key

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


def bundled_samples() -> list[Path]:
    """Every image of `sample_data/` the pipeline would take, by name."""
    return sorted(path for path in SAMPLE_DATA.iterdir() if is_imagery_key(path.name))
