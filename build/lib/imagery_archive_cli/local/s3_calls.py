"""The S3 calls of the function, in order, as the demo proves them: recorded in this process by botocore's event
hooks (`CallTrail`), or at the wire by the recording proxy (`s3_proxy`) for another process, such as the
large-scene job the demo runs as AWS Batch would. Either way each call is the same `S3Call`, named from what was
sent, so the demo proves the order of copy, verify and delete for the job exactly as for the function.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

RESPONSE_FIELDS = ("ContentLength", "ETag", "StorageClass", "ChecksumSHA256", "VersionId")


@dataclass(frozen=True)
class S3Call:
    """One S3 request the function made, with its parameters and what S3 answered."""

    operation: str
    params: Mapping[str, Any]
    status: int
    response: Mapping[str, Any]

    @property
    def bucket(self) -> str:
        return str(self.params.get("Bucket", ""))

    @property
    def key(self) -> str:
        return str(self.params.get("Key", ""))


class CallTrail:
    """Records every call an S3 client makes, in order (thread-safe: downloads use several threads)."""

    def __init__(self) -> None:
        self.calls: list[S3Call] = []
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.s3", self._remember_params)
        client.meta.events.register("after-call.s3", self._record)

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("provide-client-params.s3", self._remember_params)
        client.meta.events.unregister("after-call.s3", self._record)

    @staticmethod
    def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["trail-params"] = {name: value for name, value in params.items() if name != "Body"}

    def _record(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        response = {name: parsed[name] for name in RESPONSE_FIELDS if name in parsed}
        call = S3Call(model.name, context.get("trail-params", {}), http_response.status_code, response)
        with self._lock:
            self.calls.append(call)


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
