"""A local S3 endpoint: moto's server in its own process, so its memory and CPU are never the function's.

The demo and the tests run the same server on a thread of their own process instead
(`tools.local_s3`); the benchmark uses that module's fake credentials, client and reset.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server(venv_bin: Path, log: Path, scratch: Path) -> Iterator[tuple[str, int]]:
    """Start `moto_server` on a free port; yields its URL and process id; stops it (only it) afterwards."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch)}  # moto spools large objects to temporary files
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(venv_bin / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start; see {log}") from None
                time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
