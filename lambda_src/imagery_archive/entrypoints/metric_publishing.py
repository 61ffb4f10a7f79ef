"""EMF documents as CloudWatch metric data: how the large-scene job's metrics reach CloudWatch.

In Lambda, CloudWatch turns the EMF lines Powertools prints into metrics by itself. The batch job's lines reach
CloudWatch Logs through the awslogs driver, which does not ask for that (only PutLogEvents with the header
`x-amzn-logs-format: json/emf`, the CloudWatch agent or FireLens do): the job sends its metric set with
PutMetricData instead, so that a large scene counts on the dashboard and in `imagery-archive status` like any
other. The same reading of EMF serves the tools that replay a local run's log (`imagery-archive status --emf-log`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PUT_METRIC_DATA_BATCH = 1000
"""CloudWatch takes at most 1000 data points per PutMetricData request."""


@dataclass(frozen=True)
class EmfDatum:
    """One value of one metric, as one EMF document declared it."""

    namespace: str
    name: str
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime
    value: float


def emf_data(document: Mapping[str, Any]) -> Iterator[EmfDatum]:
    """The values of one EMF document: each metric of each directive, with each of its dimension sets."""
    metadata = document["_aws"]
    timestamp = datetime.fromtimestamp(metadata["Timestamp"] / 1000, tz=UTC)
    for directive in metadata["CloudWatchMetrics"]:
        for dimension_set in directive.get("Dimensions", [[]]):
            dimensions = tuple((name, str(document[name])) for name in dimension_set)
            for metric in directive["Metrics"]:
                values = document.get(metric["Name"], [])
                for value in values if isinstance(values, list) else [values]:
                    yield EmfDatum(
                        directive["Namespace"], metric["Name"], metric.get("Unit", "None"), dimensions, timestamp, value
                    )


def put_metric_data(data: Iterable[EmfDatum], cloudwatch: Any) -> int:
    """Send `data` as PutMetricData, one request per namespace and batch; how many values were sent."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for datum in data:
        by_namespace.setdefault(datum.namespace, []).append(
            {
                "MetricName": datum.name,
                "Dimensions": [{"Name": name, "Value": value} for name, value in datum.dimensions],
                "Timestamp": datum.timestamp,
                "Value": datum.value,
                "Unit": datum.unit,
            }
        )
    for namespace, metric_data in by_namespace.items():
        for start in range(0, len(metric_data), PUT_METRIC_DATA_BATCH):
            cloudwatch.put_metric_data(
                Namespace=namespace, MetricData=metric_data[start : start + PUT_METRIC_DATA_BATCH]
            )
    return sum(len(metric_data) for metric_data in by_namespace.values())
