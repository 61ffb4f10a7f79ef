"""The function's scratch space (Lambda's /tmp): whether an object fits, and a folder that is always cleaned.

Scratch holds the COG and GDAL's temporary overviews, and the original only where it is downloaded
(`source_access`): about 1.2 times an uncompressed original downloaded, about 0.2 times one streamed
(JPEG q75, BENCHMARKS.md). The folder of one object is removed when it is done, whatever happened, so
a warm function never fills its disk with earlier objects. Only a timeout or a kill can leave one
behind: every invocation first sweeps the folders of processes that are gone (`sweep_stale_scratch`;
each folder names its owner by process id and start time), and a lack of space that is not the
object's own fault is transient (`ScratchSpaceTakenError`). Processes sharing a work directory (local
runs, parallel tests) never sweep each other's live work.
"""

from __future__ import annotations

import os
import re
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
_OWNER = re.compile(rf"^{SCRATCH_FOLDER_PREFIX}(\d+-\d+)-")
"""A folder's owner as its name holds it: `imagery-<process id>-<process start>-<random>`."""
_START_TIME_FIELD = 21
"""`starttime` in /proc/<pid>/stat (proc(5): field 22, clock ticks after boot), counted from 0 after the name."""


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


def process_identity(pid: int) -> str | None:
    """`<pid>-<start time>` of the running process `pid`, or None if there is none.

    The start time tells a process from a later one given the same id (a restarted Lambda runtime
    can be). Where there is no /proc (not Linux), the id alone, with a start time of 0.
    """
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # another user's process: alive
        return f"{pid}-0"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name, in parentheses, may hold spaces
    return f"{pid}-{fields[_START_TIME_FIELD - 2]}"


def sweep_stale_scratch(work_dir: str, started: float) -> list[str]:
    """Remove the object folders under `work_dir` whose process is gone; their names.

    Such a folder belongs to an invocation that timed out or was killed before it could clean up, and
    would otherwise hold its space for good. A folder whose name holds no owner (made by an earlier
    release) is removed if it was made before `started` (a POSIX time), as that release did.
    """
    swept = []
    with os.scandir(work_dir) as entries:
        for entry in entries:
            ours = entry.name.startswith(SCRATCH_FOLDER_PREFIX) and entry.is_dir(follow_symlinks=False)
            if ours and _owner_is_gone(entry, started):
                shutil.rmtree(entry.path, ignore_errors=True)
                swept.append(entry.name)
    return swept


def _owner_is_gone(folder: os.DirEntry[str], started: float) -> bool:
    owner = _OWNER.match(folder.name)
    if owner is None:
        return folder.stat(follow_symlinks=False).st_mtime < started
    pid = int(owner.group(1).partition("-")[0])
    return process_identity(pid) != owner.group(1)


@contextmanager
def scratch_files(
    source: ObjectLocation, size: int, work_dir: str, input_in_scratch: bool = True
) -> Iterator[ScratchFiles]:
    """A fresh folder under `work_dir` for `source`'s files, removed on exit; `TooLargeError` if it can't fit."""
    usage = shutil.disk_usage(work_dir)
    check_scratch_space(source, size, usage.total, free_bytes(work_dir), input_in_scratch)
    owner = process_identity(os.getpid())
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_FOLDER_PREFIX}{owner}-", dir=work_dir) as folder:
        suffix = Path(source.key).suffix[:16]
        yield ScratchFiles(original=Path(folder, f"original{suffix}"), cog=Path(folder, "compressed.tif"))
