"""Where `imagery-archive status` reads its numbers: metric totals (CloudWatch or an EMF log), SQS, Batch, S3."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from imagery_archive_cli.operations.emf import read_emf

WAITING_AND_RUNNING = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
"""AWS Batch's states of a job that has not ended."""
S3_STORAGE_METRIC_AGE = timedelta(days=3)
"""S3 publishes its object counts once a day: the latest of the last three days is the current count."""
_MINUTE, _HOUR = 60, 3600
_QUERIES_PER_REQUEST = 500


@dataclass(frozen=True)
class Totals:
    """A metric over a window: the sum of its values, and how many values there were."""

    total: float = 0.0
    count: int = 0


class MetricTotals(Protocol):
    def totals(self, names: Sequence[str], start: datetime, end: datetime) -> dict[str, Totals]:
        """Each metric of `names` summed over [start, end]; a metric with no data has Totals()."""
        ...


@dataclass(frozen=True)
class CloudWatchTotals:
    """The function's metrics in CloudWatch: one GetMetricData for all of them (Sum and SampleCount)."""

    client: Any
    namespace: str
    dimensions: Mapping[str, str]

    def totals(self, names: Sequence[str], start: datetime, end: datetime) -> dict[str, Totals]:
        queries = [query for index, name in enumerate(names) for query in self._queries(index, name, start, end)]
        values: dict[str, float] = {}
        for first in range(0, len(queries), _QUERIES_PER_REQUEST):
            values |= _metric_data(self.client, queries[first : first + _QUERIES_PER_REQUEST], start, end)
        return {
            name: Totals(values.get(f"sum{index}", 0.0), round(values.get(f"count{index}", 0.0)))
            for index, name in enumerate(names)
        }

    def _queries(self, index: int, name: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        metric = {
            "Namespace": self.namespace,
            "MetricName": name,
            "Dimensions": [{"Name": key, "Value": value} for key, value in self.dimensions.items()],
        }
        period = _period(end - start)
        return [
            {"Id": f"{label}{index}", "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}}
            for label, stat in (("sum", "Sum"), ("count", "SampleCount"))
        ]


def _period(window: timedelta) -> int:
    """One period for the whole window, in whole minutes (whole hours past three hours, as CloudWatch requires
    for older data)."""
    unit = _MINUTE if window <= timedelta(hours=3) else _HOUR
    return max(unit, math.ceil(window.total_seconds() / unit) * unit)


def _metric_data(client: Any, queries: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, float]:
    """Each query's values summed, over every page of GetMetricData."""
    sums: dict[str, float] = {}
    pages = client.get_paginator("get_metric_data").paginate(MetricDataQueries=queries, StartTime=start, EndTime=end)
    for page in pages:
        for result in page["MetricDataResults"]:
            sums[result["Id"]] = sums.get(result["Id"], 0.0) + sum(result["Values"])
    return sums


@dataclass(frozen=True)
class EmfLogTotals:
    """The same totals from an EMF log (a local run's `function.log`): what CloudWatch would have received."""

    path: Path
    namespace: str
    dimensions: Mapping[str, str]

    def totals(self, names: Sequence[str], start: datetime, end: datetime) -> dict[str, Totals]:
        wanted = tuple(self.dimensions.items())
        sums = dict.fromkeys(names, 0.0)
        counts = dict.fromkeys(names, 0)
        for datum in read_emf(self.path):
            if (
                datum.name in sums
                and datum.namespace == self.namespace
                and datum.dimensions == wanted
                and start <= datum.timestamp <= end
            ):
                sums[datum.name] += datum.value
                counts[datum.name] += 1
        return {name: Totals(sums[name], counts[name]) for name in names}


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or being read."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def jobs_by_state(batch: Any, job_queue: str) -> dict[str, int]:
    """How many of the queue's jobs are in each state that has not ended (ListJobs, every page)."""
    paginator = batch.get_paginator("list_jobs")
    return {
        state: sum(len(page["jobSummaryList"]) for page in paginator.paginate(jobQueue=job_queue, jobStatus=state))
        for state in WAITING_AND_RUNNING
    }


def objects_left(s3: Any, cloudwatch: Any, bucket: str, *, listing: bool) -> int | None:
    """Objects in the input bucket: S3's daily NumberOfObjects metric, or a listing (O(N)) if asked.

    None when S3 has published no count yet (it does once a day, for buckets with objects).
    """
    if listing:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sum(page.get("KeyCount", 0) for page in pages)
    end = datetime.now().astimezone()
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/S3",
        MetricName="NumberOfObjects",
        Dimensions=[{"Name": "BucketName", "Value": bucket}, {"Name": "StorageType", "Value": "AllStorageTypes"}],
        StartTime=end - S3_STORAGE_METRIC_AGE,
        EndTime=end,
        Period=86_400,
        Statistics=["Average"],
    )
    latest = max(answer["Datapoints"], key=lambda point: point["Timestamp"], default=None)
    return None if latest is None else round(latest["Average"])
