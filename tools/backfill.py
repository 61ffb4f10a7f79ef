"""Run objects already in an input bucket through the pipeline: a backfill for existing archives.

Each object gets the ObjectCreated event S3 would have sent, delivered to the same `handler` the
container runs, so the guarantees are the function's: the original is deleted only after its archive
copy is verified, and a bad image is tagged and left in place. Credentials, region and endpoint come
from the usual AWS settings (profile, environment, `AWS_ENDPOINT_URL`) or `--endpoint-url`.

Safe to interrupt and rerun: Ctrl-C finishes the object in progress and stops (press it again to stop
at once; nothing is deleted that isn't archived and verified either way). A rerun skips what is done,
completes anything half-done, and skips originals tagged as failed until they are uploaded again.

    python -m tools.backfill --input-bucket IN --output-bucket OUT [--prefix P] [--dry-run] [--limit N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from tools.cli import Parser, fail, size
from tools.local_function import LocalFunction, use_function_code

if TYPE_CHECKING:
    from imagery_archive.keys import Destinations

IMAGERY_SUFFIXES = (".tif", ".tiff", ".ntf", ".nitf", ".jp2")
"""The suffixes the stack's trigger listens to (any letter case)."""


@dataclass(frozen=True)
class Candidate:
    key: str
    size: int


@dataclass
class Summary:
    """What the backfill did; `counts` by outcome: archived, already-archived, failed, retry, ..."""

    counts: Counter[str] = field(default_factory=Counter)
    bytes_in: int = 0
    failures: list[str] = field(default_factory=list)
    interrupted: bool = False
    remaining: int = 0

    def render(self, dry_run: bool = False) -> str:
        if dry_run:
            return f"dry run: {self.counts['would process']} objects ({size(self.bytes_in)}) would be processed; " + (
                f"{self.counts['skipped: tagged failed']} tagged as failed would be skipped; nothing was changed"
            )
        names = [
            ("archived", "archived"),
            ("already-archived", "already archived"),
            ("failed", "failed (left in place, tagged)"),
            ("retry", "to retry (left in place)"),
            ("source changed", "replaced during processing (left)"),
            ("skipped: tagged failed", "skipped (tagged failed earlier)"),
            ("gone", "gone before processing"),
        ]
        parts = [f"{label} {self.counts[name]}" for name, label in names if self.counts[name] or name in {"archived"}]
        lines = [f"backfill: {', '.join(parts)}; {size(self.bytes_in)} of originals processed"]
        lines += [f"  {failure}" for failure in self.failures]
        if self.interrupted:
            lines.append(f"interrupted: {self.remaining} objects not started; run the same command again to continue")
        return "\n".join(lines)


def candidates(client: Any, bucket: str, prefix: str, destinations: Destinations | None = None) -> Iterator[Candidate]:
    """Objects under `prefix` with an imagery suffix, page by page, except the pipeline's own."""
    from imagery_archive.storage import ObjectLocation  # noqa: PLC0415 - the function's code

    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            ours = destinations is not None and destinations.holds(ObjectLocation(bucket, key))
            if key.lower().endswith(IMAGERY_SUFFIXES) and not ours:
                yield Candidate(key, item["Size"])


class StopRequest:
    """First Ctrl-C: stop after the current object. Second: stop now (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, *_: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("stopping after the current object (Ctrl-C again to stop now) ...", file=sys.stderr)


def outcome_name(outcome: str) -> str:
    """'failed: <reason>' -> 'failed'."""
    return outcome.split(":", 1)[0]


def backfill(
    client: Any,
    input_bucket: str,
    function_env: dict[str, str],
    log_path: Path,
    prefix: str = "",
    dry_run: bool = False,
    limit: int | None = None,
    destinations: Destinations | None = None,
    progress: bool = True,
    on_object: Callable[[str, str], None] | None = None,
) -> Summary:
    """Process the bucket's imagery; returns the summary. See the module docstring."""
    use_function_code()
    from imagery_archive.storage import ImageryStore, ObjectLocation  # noqa: PLC0415 - the function's code

    store = ImageryStore(client)
    todo = list(candidates(client, input_bucket, prefix, destinations))
    if limit is not None:
        todo = todo[:limit]
    summary = Summary()
    bar = tqdm(total=sum(c.size for c in todo), unit="B", unit_scale=True, desc="backfill", disable=not progress)
    with bar, StopRequest() as stop, log_path.open("a") as log:
        function = (
            None if dry_run else LocalFunction(function_env, log, echo=lambda line: tqdm.write(line, file=sys.stderr))
        )
        with function or contextlib.nullcontext():
            for number, candidate in enumerate(todo):
                if stop.requested:
                    summary.interrupted, summary.remaining = True, len(todo) - number
                    break
                location = ObjectLocation(input_bucket, candidate.key)
                if store.head(location) is None:
                    summary.counts["gone"] += 1
                elif store.is_marked_failed(location):
                    summary.counts["skipped: tagged failed"] += 1
                elif dry_run:
                    summary.counts["would process"] += 1
                    summary.bytes_in += candidate.size
                else:
                    outcome = function.invoke(client, input_bucket, candidate.key).outcome
                    summary.counts[outcome_name(outcome)] += 1
                    summary.bytes_in += candidate.size if outcome == "archived" else 0
                    if outcome_name(outcome) in {"failed", "retry", "source changed"}:
                        summary.failures.append(f"{candidate.key}: {outcome}")
                    if on_object:
                        on_object(candidate.key, outcome)
                bar.update(candidate.size)
                bar.set_postfix_str(f"{number + 1}/{len(todo)} objects", refresh=False)
    return summary


def function_environment(args: argparse.Namespace, scratch: str) -> dict[str, str]:
    """The function's settings: the stack's defaults unless given here or already in the environment."""
    env = {
        "OUTPUT_BUCKET": args.output_bucket,
        "CPL_TMPDIR": scratch,
        "POWERTOOLS_SERVICE_NAME": "imagery-archive",
        "POWERTOOLS_METRICS_NAMESPACE": os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ImageryArchiveBackfill"),
    }
    for name, value in [
        ("OUTPUT_PREFIX", args.output_prefix),
        ("ARCHIVE_PREFIX", args.archive_prefix),
        ("ARCHIVE_STORAGE_CLASS", args.storage_class),
        ("COMPRESSION", args.compression),
        ("QUALITY", args.quality),
    ]:
        if value is not None:
            env[name] = str(value)
    if args.endpoint_url:
        env["AWS_ENDPOINT_URL"] = args.endpoint_url
    return env


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = Parser(prog="python -m tools.backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-bucket", required=True, help="bucket holding the originals")
    parser.add_argument("--output-bucket", required=True, help="bucket receiving output/ and archive/")
    parser.add_argument("--prefix", default="", help="only keys starting with this")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS, or AWS_ENDPOINT_URL)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be processed; change nothing")
    parser.add_argument("--limit", type=_positive, help="process at most N objects, then stop")
    parser.add_argument("--output-prefix", help="default output/ (OUTPUT_PREFIX)")
    parser.add_argument("--archive-prefix", help="default archive/ (ARCHIVE_PREFIX)")
    parser.add_argument("--storage-class", type=str.upper, help="archive class, default GLACIER")
    parser.add_argument("--compression", type=str.upper, help="JPEG, WEBP, DEFLATE or ZSTD; default JPEG")
    parser.add_argument("--quality", type=int, help="JPEG/WEBP quality, default 75")
    parser.add_argument("--log-file", type=Path, default=Path("imagery-backfill.log"), help="function logs (JSON)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    use_function_code()
    from imagery_archive.errors import SettingsError  # noqa: PLC0415
    from imagery_archive.settings import FunctionSettings  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="backfill-") as scratch:
        env = function_environment(args, scratch)
        try:
            settings = FunctionSettings.from_env({**os.environ, **env})
        except SettingsError as error:
            fail(str(error))
        client = boto3.client("s3", endpoint_url=args.endpoint_url)
        try:
            summary = backfill(
                client,
                args.input_bucket,
                env,
                args.log_file,
                prefix=args.prefix,
                dry_run=args.dry_run,
                limit=args.limit,
                destinations=settings.destinations,
                progress=not args.no_progress,
            )
        except (ClientError, BotoCoreError) as error:
            fail(f"s3://{args.input_bucket}: {error}")
        except OSError as error:
            fail(f"{error.filename or ''}: {error.strerror or error}")
        except KeyboardInterrupt:
            print("stopped at once; nothing unverified was deleted: run the same command again to continue")
            return 130
    print(summary.render(args.dry_run))
    if not args.dry_run:
        print(f"function logs: {args.log_file}")
    if summary.interrupted:
        return 130
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
