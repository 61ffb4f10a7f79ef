"""Get originals back from the archive: request restores, follow them, fetch each original once readable.

Objects in GLACIER or DEEP_ARCHIVE need a restore first (hours, by tier); every other class (GLACIER_IR,
STANDARD_IA, ...) is read directly. Before changing anything it shows how many objects are in which state,
what the restores cost and how long the tier takes, and asks (or `--yes`). Safe to run again: restores
already requested or done are not requested again, and originals already fetched (same size) are skipped;
a download appears under its name only once complete. `--wait` polls until every original is fetched.

    imagery-archive restore --output-bucket B --prefix archive/2024/ --tier Bulk --days 7 \\
        [--copy-to BUCKET/PREFIX | --download DIR] [--engine local|s3-batch] [--yes] [--wait]

`--engine s3-batch` requests the restores as one S3 Batch Operations job (S3InitiateRestoreObject), for
large sets; it needs `--role-arn` (the stack's BatchOperationsRoleArn). The copies go to any bucket you may
write to: copying into the input bucket runs the pipeline on them again.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from imagery_archive.s3.storage import error_code
from imagery_archive_cli.console import Parser, fail, size
from imagery_archive_cli.costs import job_costs
from imagery_archive_cli.operations.s3_batch import (
    JobTarget,
    ManifestEntry,
    follow,
    job_name,
    manifest_csv,
    report_spec,
    upload_manifest,
)

TIERS = ("Expedited", "Standard", "Bulk")
ARCHIVED, RESTORING, RESTORED, READABLE = "archived", "restore in progress", "restored", "readable"
"""An object's state: needs a restore request / being restored / restored copy readable / never needed one."""


@dataclass(frozen=True)
class Archived:
    key: str
    size: int
    storage_class: str
    state: str


def restore_state(storage_class: str, restore_header: str | None) -> str:
    """From HeadObject's StorageClass and Restore (x-amz-restore): ongoing-request="true" or "false"."""
    if storage_class not in job_costs.NEEDS_RESTORE:
        return READABLE
    if not restore_header:
        return ARCHIVED
    return RESTORING if 'ongoing-request="true"' in restore_header else RESTORED


def archived_objects(client: Any, bucket: str, prefix: str) -> Iterator[Archived]:
    """Every object under `prefix` and its state (one HeadObject each for the archive classes)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            storage_class = item.get("StorageClass", "STANDARD")
            header = None
            if storage_class in job_costs.NEEDS_RESTORE:
                header = client.head_object(Bucket=bucket, Key=item["Key"]).get("Restore")
            yield Archived(item["Key"], item["Size"], storage_class, restore_state(storage_class, header))


def request_restore(client: Any, bucket: str, item: Archived, tier: str, days: int) -> str:
    """RestoreObject for one object; the state it is in afterwards."""
    try:
        client.restore_object(
            Bucket=bucket, Key=item.key, RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}}
        )
    except ClientError as error:
        if error_code(error) == "RestoreAlreadyInProgress":
            return RESTORING
        raise
    return RESTORING


def restore_job_request(
    target: JobTarget, manifest: dict[str, str], *, tier: str, days: int, name: str
) -> dict[str, Any]:
    """`s3control.create_job` parameters: initiate a restore of every manifest line (Bulk or Standard)."""
    return {
        "AccountId": target.account,
        "ConfirmationRequired": False,
        "Operation": {"S3InitiateRestoreObject": {"ExpirationInDays": days, "GlacierJobTier": tier.upper()}},
        "Report": report_spec(target),
        "ClientRequestToken": name,
        "Manifest": {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": manifest,
        },
        "Description": f"imagery-archive {name}",
        "Priority": 10,
        "RoleArn": target.role_arn,
    }


class Destination:
    """Where fetched originals go: a bucket and prefix (`--copy-to`), or a folder (`--download`)."""

    def __init__(
        self, client: Any, source_bucket: str, archive_prefix: str, copy_to: str | None, download: Path | None
    ):
        self.client, self.source_bucket, self.archive_prefix = client, source_bucket, archive_prefix
        self.bucket, _, self.prefix = (copy_to or "").partition("/")
        self.folder = download

    def _name(self, key: str) -> str:
        """The original's own key: its archive key without the archive prefix."""
        return key[len(self.archive_prefix) :] if key.startswith(self.archive_prefix) else key

    def has(self, item: Archived) -> bool:
        """True if this original was fetched already (same size)."""
        if self.folder is not None:
            path = self.folder / self._name(item.key)
            return path.is_file() and path.stat().st_size == item.size
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + self._name(item.key))
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return head["ContentLength"] == item.size

    def fetch(self, item: Archived) -> str:
        """Copy or download one readable original; returns where it went."""
        if self.folder is not None:
            path = self.folder / self._name(item.key)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            self.client.download_file(self.source_bucket, item.key, str(partial))
            partial.replace(path)
            return str(path)
        key = self.prefix + self._name(item.key)
        self.client.copy({"Bucket": self.source_bucket, "Key": item.key}, self.bucket, key)
        return f"s3://{self.bucket}/{key}"


def plan(items: Sequence[Archived], args: argparse.Namespace) -> str:
    """What the run will do and cost, before it does anything."""
    states = Counter(item.state for item in items)
    to_restore = [item for item in items if item.state == ARCHIVED]
    counts = ", ".join(
        f"{states[state]} {state}" for state in (ARCHIVED, RESTORING, RESTORED, READABLE) if states[state]
    )
    total = size(sum(item.size for item in items))
    lines = [f"{len(items)} objects ({total}) under s3://{args.output_bucket}/{args.prefix}: {counts or 'none'}"]
    if to_restore:
        waits = job_costs.restore_duration([item.storage_class for item in to_restore], args.tier)
        lines.append(
            f"restores to request: {len(to_restore)} ({args.tier}, readable for {args.days} days); takes {waits}"
        )
    else:
        lines.append("no restore to request")
    fetching = bool(args.copy_to or args.download)
    costed = [item for item in items if item.state == ARCHIVED or (fetching and item.state == READABLE)]
    cost = job_costs.restore_cost(
        [(item.storage_class, item.size) for item in costed],
        tier=args.tier,
        days=args.days,
        batch_job=args.engine == "s3-batch",
    )
    lines.append(f"estimated cost ({job_costs.JobPrices().describe()}):\n{job_costs.render(cost)}")
    return "\n".join(lines)


def confirmed(args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        fail("not a terminal: pass --yes to go ahead", code=1)
    return input("go ahead? [y/N] ").strip().lower() in ("y", "yes")


def request_restores(client: Any, args: argparse.Namespace, items: list[Archived]) -> list[Archived]:
    """Restores for the objects that need one, per object or as one Batch Operations job; the new states."""
    todo = [item for item in items if item.state == ARCHIVED]
    if not todo:
        return items
    if args.engine == "s3-batch":
        if not args.role_arn:
            fail("--engine s3-batch needs --role-arn (the stack's BatchOperationsRoleArn)")
        target = JobTarget("", args.role_arn, args.output_bucket)
        name = job_name("restore")
        entries = [ManifestEntry(args.output_bucket, item.key, item.size) for item in todo]
        manifest = upload_manifest(client, target, name, manifest_csv(entries))
        control = boto3.client("s3control", endpoint_url=args.endpoint_url)
        request = restore_job_request(target, manifest, tier=args.tier, days=args.days, name=name)
        job_id = control.create_job(**request)["JobId"]
        job = follow(control, target.account, job_id, poll_seconds=args.poll_seconds, progress=not args.no_progress)
        print(f"restore job {job_id}: {job['Status']}")
    else:
        for item in todo:
            request_restore(client, args.output_bucket, item, args.tier, args.days)
    print(f"requested {len(todo)} restores ({args.tier})")
    return [Archived(i.key, i.size, i.storage_class, RESTORING) if i.state == ARCHIVED else i for i in items]


def fetch_ready(client: Any, args: argparse.Namespace, items: list[Archived]) -> tuple[int, int, int]:
    """Fetch every readable original not fetched yet; (fetched now, fetched before, still restoring)."""
    destination = Destination(client, args.output_bucket, args.archive_prefix, args.copy_to, args.download)
    fetched = before = waiting = 0
    for item in items:
        if item.state in (ARCHIVED, RESTORING):
            waiting += 1
        elif destination.has(item):
            before += 1
        else:
            print(f"  {item.key} -> {destination.fetch(item)}")
            fetched += 1
    return fetched, before, waiting


def run(client: Any, args: argparse.Namespace) -> int:
    items = list(archived_objects(client, args.output_bucket, args.prefix))
    refusal = job_costs.supported_tier([item.storage_class for item in items if item.state == ARCHIVED], args.tier)
    if refusal:
        fail(refusal)
    print(plan(items, args))
    if not items or not confirmed(args):
        return 0
    items = request_restores(client, args, items)
    while True:
        if not (args.copy_to or args.download):
            return 0
        fetched, before, waiting = fetch_ready(client, args, items)
        print(f"fetched {fetched} now, {before} fetched earlier; {waiting} still restoring")
        if not waiting:
            return 0
        if not args.wait:
            print("run the same command again later (or add --wait) to fetch the rest")
            return 3
        time.sleep(args.poll_seconds)
        items = list(archived_objects(client, args.output_bucket, args.prefix))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = Parser(prog="imagery-archive restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-bucket", required=True, help="the bucket holding archive/")
    parser.add_argument("--prefix", default="archive/", help="restore the objects under this (default archive/)")
    parser.add_argument("--archive-prefix", default="archive/", help="left out of fetched names (default archive/)")
    parser.add_argument("--tier", choices=TIERS, default="Bulk", help="retrieval tier (default Bulk, the cheapest)")
    parser.add_argument("--days", type=int, default=7, help="how long restored copies stay readable (default 7)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--copy-to", help="BUCKET/PREFIX to copy each original to once readable")
    where.add_argument("--download", type=Path, help="folder to download each original to once readable")
    parser.add_argument("--engine", choices=("local", "s3-batch"), default="local", help="how restores are requested")
    parser.add_argument("--role-arn", help="the stack's BatchOperationsRoleArn (--engine s3-batch)")
    parser.add_argument("--yes", action="store_true", help="don't ask before requesting restores")
    parser.add_argument("--wait", action="store_true", help="poll until every original is fetched")
    parser.add_argument("--poll-seconds", type=float, default=600.0, help="with --wait: seconds between checks")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS, or AWS_ENDPOINT_URL)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (s3-batch)")
    args = parser.parse_args(argv)
    if args.engine == "s3-batch" and args.tier == "Expedited":
        parser.error("S3 Batch Operations restores with Standard or Bulk only")
    if args.days < 1:
        parser.error("--days must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    client = boto3.client("s3", endpoint_url=args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"))
    try:
        return run(client, args)
    except (ClientError, BotoCoreError) as error:
        fail(f"s3://{args.output_bucket}/{args.prefix}: {error}", code=1)


if __name__ == "__main__":
    sys.exit(main())
