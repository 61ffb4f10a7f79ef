"""The function's metrics as CloudWatch gets them: CloudWatch embedded metric format (EMF) documents in its log.

Lambda turns each EMF line of the function's output into metric data; a local run (the demo, the backfill)
writes the same lines to a log file. `read_emf` reads them back, one datum per metric and value, and
`publish` sends them to a CloudWatch endpoint (the local one moto serves, say) as PutMetricData, so that the
same queries answer for a local run as for the deployed function.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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


def read_emf(path: Path) -> Iterator[EmfDatum]:
    """Every metric value of every EMF document in the log at `path`; other lines (log records) are skipped."""
    with path.open() as log:
        for line in log:
            document = _emf_document(line)
            if document is not None:
                yield from _data(document)


def _emf_document(line: str) -> dict[str, Any] | None:
    if not line.startswith("{") or '"_aws"' not in line:
        return None
    try:
        document = json.loads(line)
    except ValueError:
        return None
    return document if isinstance(document, dict) and isinstance(document.get("_aws"), dict) else None


def _data(document: dict[str, Any]) -> Iterator[EmfDatum]:
    """The values of one document: each metric directive, with each of its dimension sets."""
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


def publish(data: Iterable[EmfDatum], cloudwatch: Any) -> int:
    """Send `data` to CloudWatch as PutMetricData, one request per namespace and batch; how many were sent."""
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
            batch = metric_data[start : start + PUT_METRIC_DATA_BATCH]
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch)
    return sum(len(metric_data) for metric_data in by_namespace.values())
