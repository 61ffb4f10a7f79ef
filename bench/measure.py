"""Measuring one contender run: a fresh child process, timed and sized from the outside.

- wall time around the child; CPU time (user + system) from the kernel's own accounting of that
  child (`os.wait4`), so nothing in this process, in the S3 server or in a sampler counts against it;
- peak RSS from GNU time's `%M` (`/usr/bin/time` wraps the child), else from polling the child's
  VmHWM. Not from `wait4`'s ru_maxrss: Linux carries the high-water mark of the forking process
  over exec, so every child would be charged with this (large) process's own peak;
- peak scratch use: a thread sums the allocated size of the contender's private scratch directory
  (its TMPDIR and CPL_TMPDIR, standing in for Lambda's /tmp) every 20 ms and keeps the maximum;
- bytes moved through the function: counted inside the child by `S3ByteCounter` (botocore event
  hooks on its S3 client) and printed as the last JSON line of its stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
RESULT_MARKER = "BENCH-RESULT "
"""Prefix of the one stdout line in which a contender reports what only it can see."""


@dataclass
class Measurement:
    """One run of one contender."""

    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    peak_rss_bytes: int
    peak_scratch_bytes: int
    reported: dict[str, Any] = field(default_factory=dict)
    """What the child printed after RESULT_MARKER (bytes moved, phase times, ...)."""
    other_cpu_s: float = 0.0
    """CPU time the rest of the machine used meanwhile (S3 server excluded): contention, if large."""
    server_cpu_s: float = 0.0
    """CPU time the local S3 server used meanwhile (serving the function's transfers and copies)."""


def directory_bytes(path: Path) -> int:
    """Allocated bytes of every file under `path` (a file being written counts as far as it got)."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    info = entry.stat(follow_symlinks=False)
                    total += max(info.st_blocks * 512, 0) if info.st_blocks else info.st_size
            except FileNotFoundError:
                continue
    return total


GNU_TIME = Path("/usr/bin/time")


def high_water_rss(pid: int) -> int:
    """VmHWM of a live process, in bytes; 0 once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class ScratchSampler:
    """Polls a directory's size (and, once `pid` is set, that process's VmHWM) in a thread; keeps the peaks."""

    def __init__(self, path: Path, interval_s: float = 0.02) -> None:
        self.path = path
        self.interval_s = interval_s
        self.peak = 0
        self.pid: int | None = None
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ScratchSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, directory_bytes(self.path))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, directory_bytes(self.path))
            if self.pid is not None:
                self.peak_rss = max(self.peak_rss, high_water_rss(self.pid))
            self._stop.wait(self.interval_s)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all CPUs have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a live process has used; 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_until_quiet(limit_s: float, threshold: float = 0.25, window_s: float = 1.0) -> float:
    """Wait (at most `limit_s`) until other processes use less than `threshold` CPUs; returns the last load."""
    deadline = time.monotonic() + limit_s
    while True:
        before = machine_busy_s()
        time.sleep(window_s)
        load = (machine_busy_s() - before) / window_s
        if load < threshold or time.monotonic() >= deadline:
            return load


def run_measured(
    command: Sequence[str],
    env: Mapping[str, str],
    scratch: Path,
    log: Path,
    cwd: Path | None = None,
    server_pids: Sequence[int] = (),
) -> Measurement:
    """Run `command` in a fresh process with `scratch` as its temp dir; raise if it fails."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    child_env = {**env, "TMPDIR": str(scratch), "CPL_TMPDIR": str(scratch)}
    rss_file = log.with_suffix(".maxrss")
    rss_file.unlink(missing_ok=True)
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), *command]
    with log.open("wb") as output, ScratchSampler(scratch) as sampler:
        busy, server = machine_busy_s(), sum(map(process_cpu_s, server_pids))
        started = time.perf_counter()
        process = subprocess.Popen(command, env=child_env, stdout=output, stderr=subprocess.STDOUT, cwd=cwd)
        sampler.pid = None if GNU_TIME.exists() else process.pid
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        busy, server = machine_busy_s() - busy, sum(map(process_cpu_s, server_pids)) - server
        process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}; log {log}:\n{text[-3000:]}")
    reported: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith(RESULT_MARKER):
            reported = json.loads(line[len(RESULT_MARKER) :])
    return Measurement(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_bytes=_gnu_time_rss(rss_file) or sampler.peak_rss,
        peak_scratch_bytes=sampler.peak,
        reported=reported,
        other_cpu_s=max(0.0, busy - usage.ru_utime - usage.ru_stime - server),
        server_cpu_s=server,
    )


def _gnu_time_rss(path: Path) -> int:
    """GNU time's maximum resident set size of the child (KiB in the file), in bytes; 0 if absent."""
    try:
        return int(path.read_text().split()[-1]) * 1024
    except (FileNotFoundError, ValueError, IndexError):
        return 0


class S3ByteCounter:
    """Counts the payload bytes an S3 client moves: bodies sent (PUT, UploadPart) and received (GET).

    Registered on a client's event system, it sees every request the client sends, whichever
    thread sends it (s3transfer's concurrent parts included). A server-side copy (CopyObject,
    UploadPartCopy) moves no payload through the client and counts 0, which is its point.
    """

    def __init__(self) -> None:
        self.uploaded = 0
        self.downloaded = 0
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def attach(self, client: Any) -> S3ByteCounter:
        client.meta.events.register("before-send.s3", self._before_send)
        client.meta.events.register("after-call.s3", self._after_call)
        return self

    def _before_send(self, request: Any, **_kwargs: Any) -> None:
        length = int(request.headers.get("Content-Length", 0) or 0)
        with self._lock:
            self.uploaded += length

    def _after_call(self, http_response: Any, parsed: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        received = int(parsed.get("ContentLength", 0) or 0) if model.name == "GetObject" else 0
        with self._lock:
            self.downloaded += received
            self.calls[model.name] = self.calls.get(model.name, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes_downloaded": self.downloaded,
            "bytes_uploaded": self.uploaded,
            "bytes_moved": self.downloaded + self.uploaded,
            "s3_calls": dict(sorted(self.calls.items())),
        }


def report(values: Mapping[str, Any]) -> None:
    """Print what the parent can't see from outside, as the marked JSON line it looks for."""
    print(RESULT_MARKER + json.dumps(values), flush=True)
