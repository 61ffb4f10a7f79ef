"""Failure injection at the S3 wire: botocore's own event hooks make one operation fail for real.

Nothing of the code under test is replaced; the request simply fails as S3 would fail it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError


def throttled(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, operation)


@contextmanager
def failing(client: Any, operation: str, error: Exception | None = None, after: int = 0) -> Iterator[list[int]]:
    """Make `operation` (e.g. 'CopyObject') fail on `client`, after `after` calls have succeeded."""
    calls = [0]

    def fail(**_: Any) -> None:
        calls[0] += 1
        if calls[0] > after:
            raise error or throttled(operation)

    event = f"before-call.s3.{operation}"
    client.meta.events.register(event, fail)
    try:
        yield calls
    finally:
        client.meta.events.unregister(event, fail)
