"""The function's scratch space (Lambda's /tmp): whether an object fits, and a folder that is always cleaned.

Scratch holds the COG and GDAL's temporary overviews, and the original only where it is downloaded
(`source_access`): about 1.2 times an uncompressed original downloaded, about 0.2 times one streamed
(JPEG q75, BENCHMARKS.md). The folder of one object is removed when it is done, whatever happened, so
a warm function never fills its disk with earlier objects. Only a timeout or a kill can leave one
behind: every invocation first sweeps the folders older than itself (`sweep_stale_scratch`), and a
lack of space that is not the object's own fault is transient (`ScratchSpaceTakenError`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imagery_archive.errors import ScratchSpaceTakenError, TooLargeError
from imagery_archive.s3.checksums import GiB
from imagery_archive.s3.keys import ObjectLocation

SCRATCH_FOLDER_PREFIX = "imagery-"
"""Every object's folder under the work directory starts so: the sweep removes nothing else."""


@dataclass(frozen=True)
class ScratchFiles:
    """Where one object's files are staged, in a folder of their own."""

    original: Path
    """Where the original is downloaded (if it is), named with its suffix (at most 16 characters)."""
    cog: Path
    """The COG written from it."""


def scratch_needed(size: int, input_in_scratch: bool = True) -> int:
    """The least scratch space an original of `size` bytes can succeed in: its COG and overviews at
    10:1, and the original itself where it is downloaded."""
    return (size if input_in_scratch else 0) + size // 10


def free_bytes(work_dir: str) -> int:
    """Free space in the scratch folder `work_dir`."""
    return shutil.disk_usage(work_dir).free


def check_scratch_space(
    source: ObjectLocation, size: int, capacity: int, free: int, input_in_scratch: bool = True
) -> None:
    """Refuse an original that can't fit in scratch space with its COG: for good if it can't even fit when
    scratch is empty (`capacity`), else as transient (something else holds the space now).

    Below 1.1 times the original's size if it is downloaded, or 0.1 times if it is streamed (a COG and
    its overviews at 10:1), the object can't succeed, and starting it would only fail later.
    """
    needed = scratch_needed(size, input_in_scratch)
    if needed > capacity:
        raise TooLargeError(
            f"{source} needs at least {needed / GiB:.1f} GiB of scratch space and the function has "
            f"{capacity / GiB:.1f} GiB in all: raise its ephemeral storage (up to 10 GiB) or compress it elsewhere"
        )
    if needed > free:
        raise ScratchSpaceTakenError(
            f"{source} needs {needed / GiB:.1f} GiB of scratch space and only {free / GiB:.1f} GiB of "
            f"{capacity / GiB:.1f} GiB is free now: retried"
        )


def sweep_stale_scratch(work_dir: str, started: float) -> list[str]:
    """Remove the object folders under `work_dir` made before `started` (a POSIX time); their names.

    A function instance runs one invocation at a time, so such a folder belongs to an invocation that
    timed out or was killed before it could clean up, and would otherwise hold its space for good.
    """
    swept = []
    with os.scandir(work_dir) as entries:
        for entry in entries:
            ours = entry.name.startswith(SCRATCH_FOLDER_PREFIX) and entry.is_dir(follow_symlinks=False)
            if ours and entry.stat(follow_symlinks=False).st_mtime < started:
                shutil.rmtree(entry.path, ignore_errors=True)
                swept.append(entry.name)
    return swept


@contextmanager
def scratch_files(
    source: ObjectLocation, size: int, work_dir: str, input_in_scratch: bool = True
) -> Iterator[ScratchFiles]:
    """A fresh folder under `work_dir` for `source`'s files, removed on exit; `TooLargeError` if it can't fit."""
    usage = shutil.disk_usage(work_dir)
    check_scratch_space(source, size, usage.total, free_bytes(work_dir), input_in_scratch)
    with tempfile.TemporaryDirectory(prefix=SCRATCH_FOLDER_PREFIX, dir=work_dir) as folder:
        suffix = Path(source.key).suffix[:16]
        yield ScratchFiles(original=Path(folder, f"original{suffix}"), cog=Path(folder, "compressed.tif"))
