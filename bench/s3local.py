"""A local S3 endpoint: moto's server in its own process, so its memory and CPU are never the function's.

The demo and the tests run the same server on a thread of their own process instead
(`imagery_archive_cli.local.s3_server`); the benchmark uses that module's fake credentials, client and reset.

moto serves every ranged GET by reading the whole object (about 105 ms per request of a 189 MB
object, whatever the range), which makes any reader of many ranges look slow. `realistic_endpoint`
is the benchmark's yardstick for reading where the object lies: moto still answers the API (it has
the checksums, storage classes and conditional copies the function relies on), s3rver (npm, pinned
in package.json) serves object reads from files on disk at their real cost, and `imagery_archive_cli.local.s3_proxy`
in front of both adds a stated first-byte latency to every request, as S3 has.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Endpoint:
    """An S3 endpoint the benchmark runs against, and the processes that serve it."""

    url: str
    server_pids: tuple[int, ...]
    """Every serving process: their CPU time is the server's, never the function's."""
    reads_url: str | None = None
    """Where object reads are served from (a copy of each scene goes there too), if not `url`."""
    request_log: Path | None = None
    """The proxy's one line per request (method, path, range, status, bytes)."""


ROOT = Path(__file__).resolve().parent.parent
S3RVER = ROOT / "node_modules" / ".bin" / "s3rver"
S3RVER_CREDENTIALS = {"aws_access_key_id": "S3RVER", "aws_secret_access_key": "S3RVER"}
"""s3rver's built-in account (local only): scenes are put there with it."""


@contextlib.contextmanager
def realistic_endpoint(venv_bin: Path, out: Path, delay_ms: float, reads_bucket: str) -> Iterator[Endpoint]:
    """moto for the API, s3rver for object reads in `reads_bucket` from disk, behind a proxy adding `delay_ms`
    per request."""
    with contextlib.ExitStack() as stack:
        moto_url, moto_pid = stack.enter_context(
            moto_server(venv_bin, out / "logs" / "moto_server.log", out / "moto_tmp")
        )
        reads_port = free_port()
        data = out / "s3rver_data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        s3rver = [str(S3RVER), "-d", str(data), "-a", "127.0.0.1", "-p", str(reads_port), "--silent"]
        reads_url, reads_pid = stack.enter_context(_serving(s3rver, out / "logs" / "s3rver.log", reads_port))
        proxy_port, request_log = free_port(), out / "logs" / "requests.tsv"
        proxy = [
            str(venv_bin / "python"),
            "-m",
            "imagery_archive_cli.local.s3_proxy",
            "--upstream",
            moto_url,
            "--reads-upstream",
        ]
        proxy += [reads_url, "--reads-bucket", reads_bucket, "--delay-ms", str(delay_ms)]
        proxy += ["--port", str(proxy_port), "--log", str(request_log)]
        url, proxy_pid = stack.enter_context(_serving(proxy, out / "logs" / "s3_proxy.log", proxy_port))
        yield Endpoint(url, (moto_pid, reads_pid, proxy_pid), reads_url, request_log)


@contextlib.contextmanager
def _serving(
    command: list[str], log: Path, port: int, probe_path: str = "", env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """Run a server `command` listening on `port` (its output to `log`); yields its URL and process id once
    `probe_path` answers there; stops it (only it) afterwards: terminated, killed if it lingers."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        # At the lowest CPU priority: S3's work runs on S3's machines, not on the function's cores,
        # and here the servers share the contenders' two cores (their CPU is still counted apart).
        process = subprocess.Popen(
            ["nice", "-n", "19", *command], stdout=output, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + probe_path, timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start; see {log}") from None
                time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def moto_server(venv_bin: Path, log: Path, scratch: Path) -> Iterator[tuple[str, int]]:
    """Start `moto_server` on a free port; yields its URL and process id; stops it (only it) afterwards."""
    port = free_port()
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch)}  # moto spools large objects to temporary files
    command = [str(venv_bin / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with _serving(command, log, port, probe_path="/moto-api/", env=env) as served:
        yield served
