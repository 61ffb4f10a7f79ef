"""`imagery-archive status`: how far the archive is, what it saved, and what failed, without a CloudWatch query.

    imagery-archive status [--since 24h] [--stack ImageryArchive] [--prices prices.json] [--json]

It reads what the pipeline already publishes, and creates nothing:
- the function's metrics (CloudWatch, namespace `ImageryArchive`, or an EMF log with `--emf-log`, as a local
  run writes it): objects per outcome, bytes in and out over the window. The originals tagged failed are the
  `PermanentFailures` count: one metric query, where reading every object's tags would be O(N);
- the saving, and what it is worth per month with the price table of `costs.pricing`: the COGs in S3 Standard
  plus the originals in the archive class, against the originals in S3 Standard;
- the failure queue's depth (SQS), the large-scene jobs waiting and running (AWS Batch ListJobs), and the
  objects left in the input bucket (S3's daily storage metric, or a listing with `--list-input`).

The stack's outputs name the queue, the job queue, the input bucket and the function (whose environment names
the archive class); each can be given instead (`--failure-queue-url`, ...), e.g. for a local endpoint.
Exit codes: 0 the status was printed, 2 bad arguments or a stack that can't be read.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from imagery_archive.archiving.outcomes import Outcome
from imagery_archive.s3.keys import Destinations
from imagery_archive.settings import METRICS_NAMESPACE, SERVICE_NAME
from imagery_archive_cli.console import Parser, fail, money, size
from imagery_archive_cli.costs import pricing
from imagery_archive_cli.operations.status_sources import (
    CloudWatchTotals,
    EmfLogTotals,
    MetricTotals,
    jobs_by_state,
    objects_left,
    queue_depth,
)

DEFAULT_STACK = "ImageryArchive"
_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
BYTES_METRICS = ("BytesIn", "BytesOut")


@dataclass(frozen=True)
class Resources:
    """What the status reads besides the metrics; None where it is not known (then that line is left out)."""

    failure_queue_url: str | None = None
    job_queue: str | None = None
    input_bucket: str | None = None
    archive_class: str = Destinations.storage_class


@dataclass(frozen=True)
class Status:
    """The answer: counts and bytes over the window, the saving and its monthly value, the queues and the bucket."""

    start: datetime
    end: datetime
    outcomes: dict[str, int]
    bytes_in: float
    bytes_out: float
    compressed_objects: int
    archive_class: str
    monthly: pricing.Savings
    prices: str
    failure_queue_messages: int | None = None
    large_scene_jobs: dict[str, int] | None = None
    input_objects_left: int | None = None

    @property
    def saved_bytes(self) -> float:
        return self.bytes_in - self.bytes_out

    @property
    def saved_fraction(self) -> float:
        return self.saved_bytes / self.bytes_in if self.bytes_in else 0.0


def monthly_value(
    prices: pricing.PriceTable, archive_class: str, bytes_in: float, bytes_out: float, objects: int
) -> pricing.Savings:
    """What keeping `objects` originals as COGs + archived originals saves per month against S3 Standard.

    The metrics give totals, not each object's size: the objects are priced at their mean size, which is
    exact for the per-GB rates and the per-object overheads, and approximate only for the classes' minimum
    billed sizes (GLACIER_IR, STANDARD_IA: 128 KB).
    """
    if objects == 0:
        return pricing.Savings(0.0, 0.0, 0.0)
    one = pricing.savings(prices, [round(bytes_in / objects)], [round(bytes_out / objects)], archive_class)
    return pricing.Savings(one.before * objects, one.after_compressed * objects, one.after_archive * objects)


def gather(
    metrics: MetricTotals,
    resources: Resources,
    clients: Any,
    prices: pricing.PriceTable,
    start: datetime,
    end: datetime,
) -> Status:
    """Everything the status says, read from the metrics and from the resources `resources` names."""
    names = [outcome.metric_name for outcome in Outcome]
    totals = metrics.totals([*names, *BYTES_METRICS], start, end)
    bytes_in, bytes_out = totals["BytesIn"].total, totals["BytesOut"].total
    compressed = totals["BytesIn"].count
    return Status(
        start=start,
        end=end,
        outcomes={str(outcome): round(totals[outcome.metric_name].total) for outcome in Outcome},
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        compressed_objects=compressed,
        archive_class=resources.archive_class,
        monthly=monthly_value(prices, resources.archive_class, bytes_in, bytes_out, compressed),
        prices=prices.describe(),
        failure_queue_messages=queue_depth(clients.sqs(), resources.failure_queue_url)
        if resources.failure_queue_url
        else None,
        large_scene_jobs=jobs_by_state(clients.batch(), resources.job_queue) if resources.job_queue else None,
        input_objects_left=clients.objects_left(resources.input_bucket) if resources.input_bucket else None,
    )


def render(status: Status) -> str:
    """The status as an operator reads it."""
    outcomes = dict(status.outcomes)
    archived, failed = outcomes.pop(str(Outcome.ARCHIVED)), outcomes.pop(str(Outcome.FAILED))
    others = ", ".join(f"{name} {count}" for name, count in outcomes.items())
    lines = [
        f"Imagery archive, {status.start:%Y-%m-%d %H:%M} to {status.end:%Y-%m-%d %H:%M} UTC",
        f"  archived                  {archived} objects",
        f"  failed, tagged in place   {failed} originals (imagery-archive:status=failed; "
        "list them: imagery-archive failed; retry them: imagery-archive backfill --retry-failed)",
        f"  other outcomes            {others}",
        f"  bytes in                  {size(status.bytes_in)} of originals ({status.compressed_objects} compressed)",
        f"  bytes out                 {size(status.bytes_out)} of COGs",
        f"  saving                    {size(status.saved_bytes)} ({status.saved_fraction:.0%})",
        f"  saving per month          {money(status.monthly.saved)} ({status.monthly.saved_fraction:.0%}): COGs in "
        f"STANDARD + originals in {status.archive_class}, against originals in STANDARD ({status.prices})",
    ]
    if status.failure_queue_messages is not None:
        lines.append(f"  failure queue             {status.failure_queue_messages} messages")
    if status.large_scene_jobs is not None:
        jobs = status.large_scene_jobs
        waiting = sum(count for state, count in jobs.items() if state != "RUNNING")
        lines.append(f"  large-scene jobs          {jobs.get('RUNNING', 0)} running, {waiting} waiting")
    if status.input_objects_left is not None:
        lines.append(f"  input bucket              {status.input_objects_left} objects left to archive")
    return "\n".join(lines)


def as_json(status: Status) -> str:
    document = asdict(status) | {"saved_bytes": status.saved_bytes, "saved_fraction": status.saved_fraction}
    document["monthly"] = asdict(status.monthly) | {"saved": status.monthly.saved}
    return json.dumps(document, default=str, indent=2)


def next_minute(moment: datetime) -> datetime:
    """The window's end: the next whole minute, so that what was published in the last seconds is in it
    (CloudWatch's end time is exclusive, and its periods start on whole minutes)."""
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def window(text: str) -> timedelta:
    """`90m`, `24h`, `7d` as a duration; argparse's type for `--since`."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as 90m, 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Clients:
    """boto3 clients for one region and endpoint (a local one, or AWS's)."""

    endpoint_url: str | None
    region: str | None
    list_input: bool = False

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region)

    def sqs(self) -> Any:
        return self.client("sqs")

    def batch(self) -> Any:
        return self.client("batch")

    def objects_left(self, bucket: str) -> int | None:
        return objects_left(self.client("s3"), self.client("cloudwatch"), bucket, listing=self.list_input)


def resources_from_stack(clients: Clients, stack: str, given: Resources, archive_class: str | None) -> Resources:
    """`given`, with what it leaves out read from the stack's outputs and the function's environment."""
    try:
        described = clients.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except (ClientError, BotoCoreError) as error:
        fail(f"can't read stack {stack!r} ({error}); name it with --stack, or pass --failure-queue-url etc.")
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    if archive_class is None and "FunctionName" in outputs:
        function = clients.client("lambda").get_function_configuration(FunctionName=outputs["FunctionName"])
        archive_class = function["Environment"]["Variables"].get("ARCHIVE_STORAGE_CLASS")
    return Resources(
        failure_queue_url=given.failure_queue_url or outputs.get("FailureQueueUrl"),
        job_queue=given.job_queue or outputs.get("LargeSceneJobQueue"),
        input_bucket=given.input_bucket or outputs.get("InputBucketName"),
        archive_class=archive_class or given.archive_class,
    )


def _parser() -> Parser:
    parser = Parser(prog="imagery-archive status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--since", type=window, default=timedelta(hours=24), help="the window: 90m, 24h (default), 7d")
    parser.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default {DEFAULT_STACK})")
    parser.add_argument("--no-stack", action="store_true", help="don't read a stack: only what the options name")
    parser.add_argument("--namespace", default=METRICS_NAMESPACE, help="the metrics' namespace")
    parser.add_argument("--emf-log", type=Path, help="read the metrics from this EMF log (a local run's) instead")
    parser.add_argument("--failure-queue-url", help="the failure queue (default: the stack's output)")
    parser.add_argument("--job-queue", help="the large-scene job queue (default: the stack's output)")
    parser.add_argument("--input-bucket", help="the input bucket (default: the stack's output)")
    parser.add_argument("--list-input", action="store_true", help="count the input bucket by listing it (O(N))")
    parser.add_argument("--archive-class", type=str.upper, help="the archive's storage class (default: the function's)")
    parser.add_argument(
        "--prices", type=Path, help="JSON price table overriding the built-in one (imagery_archive_cli.costs.pricing)"
    )
    parser.add_argument("--endpoint-url", help="an AWS-compatible endpoint (a local one), for every service")
    parser.add_argument("--region", help="the AWS region (default: your AWS configuration's)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        prices = pricing.load_prices(args.prices)
    except pricing.PriceTableError as error:
        fail(str(error))
    clients = Clients(args.endpoint_url, args.region, args.list_input)
    archive_class = args.archive_class or Destinations.storage_class
    given = Resources(args.failure_queue_url, args.job_queue, args.input_bucket, archive_class)
    resources = given if args.no_stack else resources_from_stack(clients, args.stack, given, args.archive_class)
    dimensions = {"service": SERVICE_NAME}
    metrics: MetricTotals = (
        EmfLogTotals(args.emf_log, args.namespace, dimensions)
        if args.emf_log
        else CloudWatchTotals(clients.client("cloudwatch"), args.namespace, dimensions)
    )
    end = next_minute(datetime.now(UTC))
    status = gather(metrics, resources, clients, prices, end - args.since, end)
    print(as_json(status) if args.json else render(status))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
