"""A small HTTP proxy in front of a local S3 endpoint: adds a stated latency to every request, routes
object reads to a second endpoint if asked, and records what it forwarded (the one recording proxy of the
demo, the benchmark and the tests).

- Latency: S3 answers a request's first byte after some 20-60 ms (more for small ranged GETs); a
  server on 127.0.0.1 answers in well under 1 ms, which would flatter a reader that makes many
  requests. `delay_s` is added once per request, before it is forwarded.
- Routing: `reads_upstream` (if given) serves GET of objects in `reads_bucket`, e.g. a server that
  reads ranges from disk (s3rver), while the API calls a pipeline makes (HeadObject, uploads, CopyObject with checksums,
  tagging) go to `upstream` (moto). The benchmark puts each scene in both. Reads go there unsigned
  (s3rver knows only its own keys and serves anonymous reads): the signature is moto's business.
- Recording: every request's method, path, query and headers (tests check the pinning headers GDAL
  sends), and a hook called before each is forwarded (tests replace an object mid-read with it);
  `calls` holds each answered request as the S3 API call it was (`s3_calls.S3Call`: the demo proves the
  large-scene job's order of copy, verify and delete from them); `log` appends one line per request
  (method, path, range, status, bytes) for the benchmark.

`python -m imagery_archive_cli.local.s3_proxy --upstream URL [--reads-upstream URL] --delay-ms 25` runs it in its own
process (the benchmark does, so its CPU time is counted as the server's, never the function's).
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from imagery_archive_cli.local.s3_calls import S3Call, s3_call

CHUNK = 1024 * 1024
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"})
SIGNING = frozenset({"authorization", "x-amz-security-token", "x-amz-date", "x-amz-content-sha256"})


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    """Path and query string, as sent."""
    headers: dict[str, str]
    """Header names in lower case."""


class S3Proxy:
    """The proxy, on a free port of 127.0.0.1, in threads of this process."""

    def __init__(
        self,
        upstream: str,
        delay_s: float = 0.0,
        reads_upstream: str | None = None,
        reads_bucket: str = "",
        on_request: Callable[[RecordedRequest], None] | None = None,
        port: int = 0,
        log: Path | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.reads_upstream = urlsplit(reads_upstream).netloc if reads_upstream else None
        self.reads_bucket = reads_bucket
        self.delay_s = delay_s
        self.on_request = on_request
        self.requests: list[RecordedRequest] = []
        self.calls: list[S3Call] = []
        self.log = log.open("a", buffering=1) if log else None
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> S3Proxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        if self.log:
            self.log.close()

    def answered(self, request: RecordedRequest, status: int, headers: list[tuple[str, str]], size: int) -> None:
        call = s3_call(request.method, request.path, request.headers, status, dict(headers))
        with self._lock:
            self.calls.append(call)
        if self.log:
            with self._lock:
                self.log.write(
                    f"{request.method}\t{request.path}\t{request.headers.get('range', '')}\t{status}\t{size}\n"
                )

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
        if self.on_request is not None:
            self.on_request(request)

    def upstream_for(self, method: str, path: str) -> str:
        """Object GETs in the reads bucket go to the reads upstream (if any); everything else to `upstream`."""
        bare, _, query = path.partition("?")
        is_object_read = method == "GET" and bare.startswith(f"/{self.reads_bucket}/") and not query
        return self.reads_upstream if self.reads_upstream and is_object_read else self.upstream


class _Server(ThreadingHTTPServer):
    request_queue_size = 256
    """GDAL opens a connection per range of a parallel multi-range read: the default backlog (5) would drop
    connections and stall each by a SYN retry."""


def _handler_for(proxy: S3Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once: no 40-200 ms delayed-ACK stall per request
        connections: threading.local = threading.local()

        def log_message(self, *_args: Any) -> None:  # quiet: one line per request would swamp the logs
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length", 0) or 0)
            body = self.rfile.read(length) if length else None
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
            request = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in headers.items()})
            proxy.record(request)
            if proxy.delay_s:
                time.sleep(proxy.delay_s)
            upstream = proxy.upstream_for(self.command, self.path)
            if upstream != proxy.upstream:
                headers = {name: value for name, value in headers.items() if name.lower() not in SIGNING}
            response = self._send_upstream(upstream, headers, body)
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            declared = response.getheader("Content-Length")
            payload = None if declared is not None or self.command == "HEAD" else response.read()
            size = int(declared) if declared is not None else len(payload or b"")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if payload is not None:
                self.wfile.write(payload)
            elif self.command != "HEAD":
                while piece := response.read(CHUNK):
                    self.wfile.write(piece)
            response.close()
            proxy.answered(request, response.status, response.getheaders(), size)

        def _send_upstream(self, host: str, headers: dict[str, str], body: bytes | None) -> Any:
            """The upstream's response, over a connection this thread keeps open (reopened if closed)."""
            pool = Handler.connections.__dict__.setdefault("pool", {})
            for attempt in range(2):
                connection = pool.get(host) or http.client.HTTPConnection(host, timeout=300)
                pool[host] = connection
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    return connection.getresponse()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    connection.close()
                    pool.pop(host, None)
                    if attempt:
                        raise
            raise AssertionError("unreachable")

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward  # noqa: N815 - http.server's names

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="the S3 endpoint's URL (API calls)")
    parser.add_argument("--reads-upstream", help="the URL serving object GETs of --reads-bucket, if another")
    parser.add_argument("--reads-bucket", default="", help="the bucket whose object GETs go to --reads-upstream")
    parser.add_argument("--delay-ms", type=float, default=25.0, help="latency added to every request")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path, help="append one line per request to this file")
    args = parser.parse_args()
    with S3Proxy(
        args.upstream, args.delay_ms / 1000, args.reads_upstream, args.reads_bucket, port=args.port, log=args.log
    ) as proxy:
        print(proxy.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
