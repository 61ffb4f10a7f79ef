"""Run objects already in an input bucket through the pipeline: a backfill for existing archives.

Each object gets the ObjectCreated event S3 would have sent, delivered to the same `handler` the
container runs, so the guarantees are the function's: the original is deleted only after its archive
copy is verified, and a bad image is tagged and left in place. Credentials, region and endpoint come
from the usual AWS settings (profile, environment, `AWS_ENDPOINT_URL`) or `--endpoint-url`.

Safe to interrupt and rerun: Ctrl-C finishes the object in progress and stops (press it again to stop
at once; nothing is deleted that isn't archived and verified either way). A rerun skips what is done,
completes anything half-done, and skips originals tagged as failed until they are uploaded again.

    imagery-archive backfill --input-bucket IN --output-bucket OUT [--prefix P] [--dry-run] [--limit N]

`--engine s3-batch` runs the deployed function from an S3 Batch Operations job instead (`batch_backfill`),
for whole archives; `--retry-failed` reprocesses the originals tagged failed, clearing the tag, with either engine.
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
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from imagery_archive.archiving.outcomes import ObjectResult, Outcome
from imagery_archive.errors import SettingsError
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from imagery_archive.settings import SERVICE_NAME, FunctionSettings
from imagery_archive_cli.console import Parser, fail, size
from imagery_archive_cli.local.function import LocalFunction
from imagery_archive_cli.operations import batch_backfill
from imagery_archive_cli.operations.failed import clear_failure_mark, failed_originals, imagery_objects

NEEDS_ATTENTION = (Outcome.FAILED, Outcome.RETRY, Outcome.SOURCE_CHANGED, Outcome.NEEDS_ATTENTION)
"""Outcomes listed with their reasons after the summary: each object is still in the input bucket."""


@dataclass(frozen=True)
class Candidate:
    key: str
    size: int


@dataclass
class Summary:
    """What the backfill did: objects counted by outcome, plus those it skipped or only listed."""

    counts: Counter[Outcome] = field(default_factory=Counter)
    skipped_failed: int = 0
    """Tagged as failed by an earlier run: skipped until uploaded again."""
    would_process: int = 0
    """Dry run: objects that would be processed."""
    bytes_in: int = 0
    failures: list[str] = field(default_factory=list)
    interrupted: bool = False
    remaining: int = 0

    def render(self, dry_run: bool = False) -> str:
        if dry_run:
            return f"dry run: {self.would_process} objects ({size(self.bytes_in)}) would be processed; " + (
                f"{self.skipped_failed} tagged as failed would be skipped; nothing was changed"
            )
        counted = [(self.counts[outcome], label) for outcome, label in _LABELS.items()]
        counted.insert(-1, (self.skipped_failed, "skipped (tagged failed earlier)"))
        parts = [f"{label} {count}" for count, label in counted if count or label == "archived"]
        lines = [f"backfill: {', '.join(parts)}; {size(self.bytes_in)} of originals processed"]
        lines += [f"  {failure}" for failure in self.failures]
        if self.interrupted:
            lines.append(f"interrupted: {self.remaining} objects not started; run the same command again to continue")
        return "\n".join(lines)


_LABELS = {
    Outcome.ARCHIVED: "archived",
    Outcome.ALREADY_ARCHIVED: "already archived",
    Outcome.FAILED: "failed (left in place, tagged)",
    Outcome.RETRY: "to retry (left in place)",
    Outcome.NEEDS_ATTENTION: "our COG failed its checks (left, untagged)",
    Outcome.SOURCE_CHANGED: "replaced during processing (left)",
    Outcome.GONE: "gone before processing",
}
"""The summary's words for each outcome, in the order it lists them."""


def candidates(client: Any, bucket: str, prefix: str, destinations: Destinations | None = None) -> Iterator[Candidate]:
    """Objects under `prefix` with an imagery suffix, page by page, except the pipeline's own."""
    return (Candidate(key, size) for key, size in imagery_objects(client, bucket, prefix, destinations))


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
    on_object: Callable[[str, ObjectResult], None] | None = None,
    only: Sequence[Candidate] | None = None,
) -> Summary:
    """Process the bucket's imagery (or `only` these objects); returns the summary. See the module docstring."""
    store = ImageryStore(client)
    todo = list(candidates(client, input_bucket, prefix, destinations)) if only is None else list(only)
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
                    summary.counts[Outcome.GONE] += 1
                elif store.is_marked_failed(location):
                    summary.skipped_failed += 1
                elif dry_run:
                    summary.would_process += 1
                    summary.bytes_in += candidate.size
                else:
                    assert function is not None, "made above unless this is a dry run"
                    result = function.invoke(client, input_bucket, candidate.key).result
                    summary.counts[result.outcome] += 1
                    summary.bytes_in += candidate.size if result.outcome is Outcome.ARCHIVED else 0
                    if result.outcome in NEEDS_ATTENTION:
                        summary.failures.append(f"{candidate.key}: {result}")
                    if on_object:
                        on_object(candidate.key, result)
                bar.update(candidate.size)
                bar.set_postfix_str(f"{number + 1}/{len(todo)} objects", refresh=False)
    return summary


def function_environment(args: argparse.Namespace, scratch: str) -> dict[str, str]:
    """The function's settings: the stack's defaults unless given here or already in the environment."""
    env = {
        "OUTPUT_BUCKET": args.output_bucket,
        "CPL_TMPDIR": scratch,
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
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
    parser = Parser(prog="imagery-archive backfill", description=__doc__.split("\n\n")[0])
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
    parser.add_argument(
        "--engine",
        choices=("local", "s3-batch"),
        default="local",
        help="local: this machine runs the function (default; any S3 endpoint); "
        "s3-batch: an S3 Batch Operations job invokes the deployed function (AWS only)",
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="list originals tagged failed, clear the tag and reprocess them"
    )
    batch_backfill.add_arguments(parser)
    return parser.parse_args(argv)


def retry_candidates(client: Any, args: argparse.Namespace, destinations: Destinations) -> list[Candidate]:
    """The originals tagged failed under `--prefix`, listed with their reasons; their tags cleared unless a dry run."""
    listed = imagery_objects(client, args.input_bucket, args.prefix, destinations)
    found = failed_originals(client, args.input_bucket, listed)
    print(f"{len(found)} originals tagged failed under s3://{args.input_bucket}/{args.prefix}:")
    for original in found:
        print(f"  {original}")
    if not args.dry_run:
        for original in found:
            clear_failure_mark(client, args.input_bucket, original.key)
    return [Candidate(original.key, original.size) for original in found]


def run_s3_batch(
    args: argparse.Namespace, client: Any, destinations: Destinations, only: Sequence[Candidate] | None
) -> int:
    """The s3-batch engine over `only`, or over the listing of `--prefix` (or `--inventory`)."""
    if args.retry_failed and args.dry_run and args.engine == "local":
        print("dry run: nothing was changed")
        return 0
    if only is not None and args.inventory:
        fail("--retry-failed lists the tagged originals itself: leave out --inventory")
    listed = (
        None
        if args.inventory
        else (only if only is not None else candidates(client, args.input_bucket, args.prefix, destinations))
    )
    entries = batch_backfill.entries_from(args, client, destinations, [(c.key, c.size) for c in listed or []])
    control = boto3.client("s3control", endpoint_url=args.endpoint_url)
    return batch_backfill.run(args, client, control, destinations, entries)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="backfill-") as scratch:
        env = function_environment(args, scratch)
        try:
            settings = FunctionSettings.from_env({**os.environ, **env})
        except SettingsError as error:
            fail(str(error))
        client = boto3.client("s3", endpoint_url=args.endpoint_url)
        try:
            only = retry_candidates(client, args, settings.destinations) if args.retry_failed else None
            if args.engine == "s3-batch" or (args.retry_failed and args.dry_run):
                return run_s3_batch(args, client, settings.destinations, only)
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
                only=only,
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
