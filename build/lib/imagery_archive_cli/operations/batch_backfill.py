"""`imagery-archive backfill --engine s3-batch`: the manifest, its cost, the job, its progress, its failures.

The function ARN and role ARN are the stack's outputs `FunctionArn` and `BatchOperationsRoleArn`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from imagery_archive.s3.keys import Destinations
from imagery_archive_cli.console import fail, size
from imagery_archive_cli.costs import job_costs
from imagery_archive_cli.operations.s3_batch import (
    JobTarget,
    ManifestEntry,
    failed_tasks,
    follow,
    inventory_entries,
    job_name,
    lambda_job_request,
    manifest_csv,
    upload_manifest,
)


def run(
    args: argparse.Namespace,
    s3: Any,
    control: Any,
    destinations: Destinations,
    entries: Sequence[ManifestEntry],
) -> int:
    """Show the manifest and its cost; unless a dry run, run the job to the end and list its failures."""
    entries = list(entries)[: args.limit] if args.limit else list(entries)
    sizes = [entry.size for entry in entries]
    print(f"manifest: {len(entries):,} objects, {size(sum(sizes))}")
    cost = job_costs.backfill_cost(
        sizes,
        memory_mib=args.memory_mib,
        archive_class=destinations.storage_class,
        seconds_per_gib=args.seconds_per_gib,
    )
    print(f"estimated cost ({job_costs.JobPrices().describe()}):\n{job_costs.render(cost)}")
    if sizes and sum(sizes):
        per_object = job_costs.total(cost) - job_costs.JobPrices().batch_per_job
        print(
            f"  scaled to 1 TiB of originals like these: ${per_object * 1024**4 / sum(sizes):,.2f} (plus the job fee)"
        )
    if args.dry_run:
        print("dry run: no manifest uploaded, no job created")
        return 0
    if not entries:
        print("nothing to do")
        return 0
    if not (args.function_arn and args.role_arn):
        fail("--engine s3-batch needs --function-arn and --role-arn (the stack's FunctionArn, BatchOperationsRoleArn)")
    target = JobTarget(args.function_arn, args.role_arn, destinations.bucket)
    name = job_name("backfill")
    manifest = upload_manifest(s3, target, name, manifest_csv(entries))
    versioned = any(entry.version_id for entry in entries)
    request = lambda_job_request(target, manifest, versioned=versioned, name=name, priority=args.priority)
    job_id = control.create_job(**request)["JobId"]
    print(f"job {job_id} created; manifest {manifest['ObjectArn']}")
    job = follow(control, target.account, job_id, poll_seconds=args.poll_seconds, progress=not args.no_progress)
    return report(s3, target, job)


def report(s3: Any, target: JobTarget, job: dict[str, Any]) -> int:
    """Print the job's end state and its failed keys with their reasons; 0 only if every task succeeded."""
    summary = job.get("ProgressSummary", {})
    succeeded, failed = summary.get("NumberOfTasksSucceeded", 0), summary.get("NumberOfTasksFailed", 0)
    print(f"job {job['JobId']}: {job['Status']}; {succeeded:,} succeeded, {failed:,} failed")
    for reason in job.get("FailureReasons", []):
        print(f"  job failure: {reason.get('FailureCode', '')}: {reason.get('FailureReason', '')}")
    if failed:
        for task in failed_tasks(s3, target.output_bucket, job["JobId"]):
            print(f"  {task}")
    return 0 if job["Status"] == "Complete" and not failed else 1


def entries_from(
    args: argparse.Namespace, s3: Any, destinations: Destinations, listed: Sequence[tuple[str, int]]
) -> list[ManifestEntry]:
    """The manifest's lines: from `--inventory` if given, else the `listed` objects ((key, size) each)."""
    if args.inventory:
        return [
            entry for entry in inventory_entries(s3, args.inventory, destinations) if entry.key.startswith(args.prefix)
        ]
    return [ManifestEntry(args.input_bucket, key, object_size) for key, object_size in listed]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the s3-batch engine."""
    group = parser.add_argument_group("--engine s3-batch (S3 Batch Operations invokes the deployed function)")
    group.add_argument(
        "--inventory", help="s3://bucket/.../manifest.json of an S3 Inventory (CSV) to use, not a listing"
    )
    group.add_argument("--function-arn", help="the stack's FunctionArn output")
    group.add_argument("--role-arn", help="the stack's BatchOperationsRoleArn output")
    group.add_argument("--priority", type=int, default=10, help="job priority (default 10)")
    group.add_argument("--poll-seconds", type=float, default=15.0, help="progress refresh interval (default 15)")
    group.add_argument("--memory-mib", type=int, default=4096, help="the function's memory, for the estimate")
    group.add_argument(
        "--seconds-per-gib",
        type=float,
        default=job_costs.SECONDS_PER_GIB,
        help=f"Lambda seconds per GiB of original, for the estimate (default {job_costs.SECONDS_PER_GIB:g})",
    )
