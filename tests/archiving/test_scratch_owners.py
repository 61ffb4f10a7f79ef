"""The scratch sweep removes only the folders of processes that are gone.

Two processes sharing a work directory (local runs, parallel tests, two function runtimes on one disk)
used to delete each other's live work: every invocation swept all `imagery-*` folders older than itself.
A folder now names its owner by process id and the process's start time (a restarted Lambda runtime can
get the same id again); the sweep removes it only once that process is gone. Real processes, real folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from imagery_archive.archiving.scratch import SCRATCH_FOLDER_PREFIX, process_identity, sweep_stale_scratch

OTHER_PROCESS = """
import sys
from imagery_archive.archiving.scratch import scratch_files
from imagery_archive.s3.keys import ObjectLocation

with scratch_files(ObjectLocation("in", "scene.tif"), 10, sys.argv[1]) as files:
    files.cog.write_bytes(b"half-written")
    print(files.cog.parent.name, flush=True)
    sys.stdin.readline()  # works until told to stop
"""


def test_a_live_processs_folder_survives_the_sweep_and_is_swept_once_it_is_gone(tmp_path):
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        folder = tmp_path / other.stdout.readline().strip()
        assert folder.is_dir()

        swept = sweep_stale_scratch(str(tmp_path), started=time.time() + 60)  # "older than this invocation"

        assert swept == []
        assert (folder / "compressed.tif").read_bytes() == b"half-written", "another live process's work"
    finally:
        other.kill()
        other.wait()
    assert sweep_stale_scratch(str(tmp_path), started=time.time()) == [folder.name], "its owner is gone"
    assert not folder.exists()


def test_a_folder_of_a_reused_process_id_is_swept(tmp_path):
    ours = process_identity(os.getpid())
    assert ours is not None
    pid, _, start = ours.partition("-")
    earlier_runtime = tmp_path / f"{SCRATCH_FOLDER_PREFIX}{pid}-{int(start) - 1}-abc"  # same id, another start
    earlier_runtime.mkdir()
    live = tmp_path / f"{SCRATCH_FOLDER_PREFIX}{ours}-def"
    live.mkdir()
    assert sweep_stale_scratch(str(tmp_path), started=time.time() + 60) == [earlier_runtime.name]
    assert live.is_dir()


def test_only_scratch_folders_are_judged(tmp_path):
    (tmp_path / "gdal-cache").mkdir()
    (tmp_path / f"{SCRATCH_FOLDER_PREFIX}note.txt").write_text("a file, not a folder")
    assert sweep_stale_scratch(str(tmp_path), started=time.time() + 60) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gdal-cache", f"{SCRATCH_FOLDER_PREFIX}note.txt"]


def test_process_identity_is_none_for_a_process_that_is_gone():
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    pid = int(gone.stdout)
    assert process_identity(pid) is None or Path(f"/proc/{pid}").exists(), "its id may have been reused already"
