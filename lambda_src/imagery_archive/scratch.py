"""The function's scratch space (Lambda's /tmp): whether an object fits, and a folder that is always cleaned.

Scratch holds the original, the COG and GDAL's temporary overviews: about 1.2 times an uncompressed
original (BENCHMARKS.md). The folder of one object is removed when it is done, whatever happened, so
a warm function never fills its disk with earlier objects.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imagery_archive.checksums import GiB
from imagery_archive.errors import TooLargeError
from imagery_archive.keys import ObjectLocation


@dataclass(frozen=True)
class ScratchFiles:
    """Where one object's files are staged, in a folder of their own."""

    original: Path
    """The downloaded original, named with the original's suffix (at most 16 characters)."""
    cog: Path
    """The COG written from it."""


def check_scratch_space(source: ObjectLocation, size: int, free: int) -> None:
    """Refuse, for good, an original that can't fit in scratch space with its COG.

    Below 1.1 times the original's size, the object can never succeed here, and retrying it would
    only fail again after the download.
    """
    needed = size + size // 10
    if needed > free:
        raise TooLargeError(
            f"{source} needs at least {needed / GiB:.1f} GiB of scratch space and {free / GiB:.1f} GiB is free: "
            "raise the function's ephemeral storage (up to 10 GiB) or compress it elsewhere"
        )


@contextmanager
def scratch_files(source: ObjectLocation, size: int, work_dir: str) -> Iterator[ScratchFiles]:
    """A fresh folder under `work_dir` for `source`'s files, removed on exit; `TooLargeError` if it can't fit."""
    check_scratch_space(source, size, shutil.disk_usage(work_dir).free)
    with tempfile.TemporaryDirectory(prefix="imagery-", dir=work_dir) as folder:
        suffix = Path(source.key).suffix[:16]
        yield ScratchFiles(original=Path(folder, f"original{suffix}"), cog=Path(folder, "compressed.tif"))
