"""The function's scratch space (Lambda's /tmp): whether an object fits, and a folder that is always cleaned.

Scratch holds the COG and GDAL's temporary overviews, and the original only where it is downloaded
(`source_access`): about 1.2 times an uncompressed original downloaded, about 0.2 times one streamed
(JPEG q75, BENCHMARKS.md). The folder of one object is removed when it is done, whatever happened, so
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
    """Where the original is downloaded (if it is), named with its suffix (at most 16 characters)."""
    cog: Path
    """The COG written from it."""

    def free_bytes(self) -> int:
        """Free space where these files go."""
        return free_bytes(str(self.cog.parent))


def scratch_needed(size: int, input_in_scratch: bool = True) -> int:
    """The least scratch space an original of `size` bytes can succeed in: its COG and overviews at
    10:1, and the original itself where it is downloaded."""
    return (size if input_in_scratch else 0) + size // 10


def free_bytes(work_dir: str) -> int:
    """Free space in the scratch folder `work_dir`."""
    return shutil.disk_usage(work_dir).free


def check_scratch_space(source: ObjectLocation, size: int, free: int, input_in_scratch: bool = True) -> None:
    """Refuse, for good, an original that can't fit in scratch space with its COG.

    Below 1.1 times the original's size if it is downloaded, or 0.1 times if it is streamed (a COG
    and its overviews at 10:1), the object can never succeed here, and retrying it would only fail
    again.
    """
    needed = scratch_needed(size, input_in_scratch)
    if needed > free:
        raise TooLargeError(
            f"{source} needs at least {needed / GiB:.1f} GiB of scratch space and {free / GiB:.1f} GiB is free: "
            "raise the function's ephemeral storage (up to 10 GiB) or compress it elsewhere"
        )


@contextmanager
def scratch_files(
    source: ObjectLocation, size: int, work_dir: str, input_in_scratch: bool = True
) -> Iterator[ScratchFiles]:
    """A fresh folder under `work_dir` for `source`'s files, removed on exit; `TooLargeError` if it can't fit."""
    check_scratch_space(source, size, free_bytes(work_dir), input_in_scratch)
    with tempfile.TemporaryDirectory(prefix="imagery-", dir=work_dir) as folder:
        suffix = Path(source.key).suffix[:16]
        yield ScratchFiles(original=Path(folder, f"original{suffix}"), cog=Path(folder, "compressed.tif"))
