"""The function's metrics as CloudWatch gets them: CloudWatch embedded metric format (EMF) documents in its log.

Lambda turns each EMF line of the function's output into metric data; a local run (the demo, the backfill)
writes the same lines to a log file. `read_emf` reads them back, one datum per metric and value, and
`publish` sends them to a CloudWatch endpoint (the local one moto serves, say) as PutMetricData, so that the
same queries answer for a local run as for the deployed function. The EMF reading is the runtime's own
(`imagery_archive.entrypoints.metric_publishing`, with which the large-scene job sends its metrics).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from imagery_archive.entrypoints.metric_publishing import EmfDatum, emf_data, put_metric_data


def read_emf(path: Path) -> Iterator[EmfDatum]:
    """Every metric value of every EMF document in the log at `path`; other lines (log records) are skipped."""
    with path.open() as log:
        for line in log:
            document = _emf_document(line)
            if document is not None:
                yield from emf_data(document)


def _emf_document(line: str) -> dict[str, Any] | None:
    if not line.startswith("{") or '"_aws"' not in line:
        return None
    try:
        document = json.loads(line)
    except ValueError:
        return None
    return document if isinstance(document, dict) and isinstance(document.get("_aws"), dict) else None


def publish(data: Iterable[EmfDatum], cloudwatch: Any) -> int:
    """Send `data` to CloudWatch as PutMetricData; how many values were sent."""
    return put_metric_data(data, cloudwatch)
