"""A bulk upload makes S3 throttle: the function's S3 client slows down and retries, it doesn't fail objects."""

from __future__ import annotations

from botocore.awsrequest import AWSResponse

from imagery_archive.s3.keys import ObjectLocation
from tests.support.function import cold_start

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class _Body:
    """The raw HTTP body botocore reads a response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_):
        yield self._data


def throttle_at_the_wire(client, times: int) -> list[int]:
    """Answer the next `times` requests with S3's 503 SlowDown, as S3 does under a burst; then let them through."""
    sent = [0]

    def answer(request, **_):
        sent[0] += 1
        if sent[0] <= times:
            return AWSResponse(request.url, 503, {}, _Body(SLOW_DOWN))
        return None

    client.meta.events.register("before-send.s3", answer)
    return sent


def test_the_functions_s3_client_rides_out_a_burst_of_throttling(buckets, monkeypatch, tmp_path):
    # Backoff delays are botocore's business, not this test's: no sleeping between the attempts (the
    # adaptive mode's own rate limiter still paces them, as it would in AWS: about 10 s here).
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda *_: 0)
    store = cold_start(monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(tmp_path)).pipeline.store
    buckets.client.put_object(Bucket=buckets.input, Key="scene.tif", Body=b"II*\x00")
    client = store.client
    assert client.meta.config.retries["mode"] == "adaptive", "client-side rate limiting when S3 says SlowDown"

    sent = throttle_at_the_wire(client, times=6)
    head = store.head(ObjectLocation(buckets.input, "scene.tif"))
    assert head is not None
    assert head.size == 4
    assert sent[0] == 7, "six throttled attempts, then the seventh succeeds"
