"""A recording HTTP proxy in front of a local S3 endpoint: the S3 calls of another process, as they were sent.

The demo runs the large-scene job as AWS Batch would, in a process of its own, so botocore's event hooks
(`tools.local_function.CallTrail`) can't see its client. Pointed at this proxy (`AWS_ENDPOINT_URL`), the
job's requests are forwarded unchanged and each is recorded as the same `S3Call` the in-process trail
records, named from the request itself (method, path-style key, query and headers), so the demo proves the
order of copy, verify and delete for the job exactly as for the function.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tools.local_function import S3Call

_DROPPED_REQUEST_HEADERS = {"host", "expect", "connection"}
_DROPPED_RESPONSE_HEADERS = {"connection", "transfer-encoding", "server", "date"}


def operation_of(method: str, key: str, query: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    """The S3 API operation an HTTP request is (the operations the archive job uses)."""
    if not key:
        return "ListObjectsV2" if method == "GET" else f"{method} bucket"
    by_method = {
        "HEAD": "HeadObject",
        "GET": "GetObjectTagging" if "tagging" in query else "GetObject",
        "POST": "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload",
        "DELETE": "AbortMultipartUpload" if "uploadId" in query else "DeleteObject",
    }
    if method != "PUT":
        return by_method.get(method, method)
    if "tagging" in query:
        return "PutObjectTagging"
    copy = "x-amz-copy-source" in headers
    if "partNumber" in query:
        return "UploadPartCopy" if copy else "UploadPart"
    return "CopyObject" if copy else "PutObject"


def s3_call(method: str, path: str, headers: Mapping[str, str], status: int, answer: Mapping[str, str]) -> S3Call:
    """One recorded request, with the parameters and answer fields the demo's proofs read."""
    parts = urlsplit(path)
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    lower = {name.lower(): value for name, value in headers.items()}
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if "x-amz-copy-source" in lower:
        source_bucket, _, source_key = unquote(lower["x-amz-copy-source"]).lstrip("/").partition("/")
        params["CopySource"] = {"Bucket": source_bucket, "Key": source_key.split("?versionId=")[0]}
    named = {
        "x-amz-copy-source-if-match": "CopySourceIfMatch",
        "if-match": "IfMatch",
        "x-amz-storage-class": "StorageClass",
        "range": "Range",
    }
    params.update({name: lower[header] for header, name in named.items() if header in lower})
    answered = {name.lower(): value for name, value in answer.items()}
    response: dict[str, Any] = {}
    if "content-length" in answered and method == "HEAD":
        response["ContentLength"] = int(answered["content-length"])
    for header, name in (("etag", "ETag"), ("x-amz-storage-class", "StorageClass")):
        if header in answered:
            response[name] = answered[header]
    if "x-amz-checksum-sha256" in answered:
        response["ChecksumSHA256"] = answered["x-amz-checksum-sha256"]
    if method == "HEAD" and status == 200 and "StorageClass" not in response:
        response["StorageClass"] = "STANDARD"  # S3 sends the header for every class but STANDARD
    return S3Call(operation_of(method, key, query, lower), params, status, response)


class RecordingProxy:
    """`with RecordingProxy(upstream) as proxy:` point a process at `proxy.url`; read `proxy.calls` afterwards."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.calls: list[S3Call] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=300)
        try:
            sent = {name: value for name, value in headers.items() if name.lower() not in _DROPPED_REQUEST_HEADERS}
            connection.request(method, path, body=body or None, headers=sent)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                status, answer, payload = proxy._forward(self.command, self.path, headers, body)
                with proxy._lock:
                    proxy.calls.append(s3_call(self.command, self.path, headers, status, dict(answer)))
                self.send_response(status)
                for name, value in answer:
                    if name.lower() not in _DROPPED_RESPONSE_HEADERS:
                        self.send_header(name, value)
                if self.command != "HEAD" and not any(name.lower() == "content-length" for name, _ in answer):
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815 - http.server's names

            def log_message(self, *_: Any) -> None:  # the recorded calls are the log
                return

        return Handler
