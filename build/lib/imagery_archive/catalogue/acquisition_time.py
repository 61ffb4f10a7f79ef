"""When an image was taken, as its own metadata says: the STAC Item's `datetime`.

Tags are tried from the most to the least specific: NITF's image date and time (`IDATIM`, the
acquisition), the acquisition time GDAL reads from vendor metadata (`IMAGERY` domain), then TIFF's
`DateTime` (when the file was written, often the processing date). Times without a zone are taken
as UTC (NITF's are UTC by definition; TIFF's have no zone at all). A value that can't be parsed is
skipped, not guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from osgeo import gdal

gdal.UseExceptions()


@dataclass(frozen=True)
class Acquired:
    """A time and the metadata item it was read from (e.g. 'NITF_IDATIM')."""

    when: datetime
    source: str


def _nitf_idatim(text: str) -> datetime:
    """NITF 2.1 `CCYYMMDDhhmmss`, or NITF 2.0 `DDhhmmssZMONYY` (e.g. 25152559ZMAR93)."""
    if len(text) == 14 and text.isdigit():
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return datetime.strptime(text.title(), "%d%H%M%SZ%b%y").replace(tzinfo=UTC)


def _iso(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tiff(text: str) -> datetime:
    """TIFF DateTime, `YYYY:MM:DD HH:MM:SS`."""
    return datetime.strptime(text, "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)


DATETIME_ITEMS: tuple[tuple[str, str, Callable[[str], datetime]], ...] = (
    ("", "NITF_IDATIM", _nitf_idatim),
    ("IMAGERY", "ACQUISITIONDATETIME", _iso),
    ("", "TIFFTAG_DATETIME", _tiff),
)
"""(metadata domain, item, parser), most specific first."""


def acquisition_time(dataset: gdal.Dataset) -> Acquired | None:
    """The first parseable time among `DATETIME_ITEMS`, or None if the image states none."""
    for domain, name, parse in DATETIME_ITEMS:
        text = (dataset.GetMetadataItem(name, domain) or "").strip()
        if not text:
            continue
        try:
            return Acquired(parse(text), name)
        except ValueError:
            continue  # e.g. NITF's '-' for unknown digits: not a time to publish
    return None
