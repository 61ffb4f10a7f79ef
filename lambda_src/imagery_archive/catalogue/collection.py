"""The STAC Collection and root Catalog documents, grown one Item at a time: no listing, ever.

An archive of millions of Items can't be re-read to rebuild its Collection, so each Item, as it is
published, widens its Collection's extent to cover it (`grown`), and a new Collection is added to the
root Catalog as a child (`with_child`). Both return None when nothing changes, so most Items cost one
GET and no write. The Collection links no Items (millions of links would make it unreadable); each
Item links its Collection, and a STAC API (pgSTAC) or `imagery-archive catalog` lists them. Pure: no S3 here.

Longitudes are a circle: the spatial extent is the shortest arc covering every Item's bbox, written
with west > east when that arc crosses 180° (as the Items' own bboxes are).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from imagery_archive.settings import SERVICE_NAME

WHOLE_EARTH = [-180.0, -90.0, 180.0, 90.0]
JSON_MEDIA_TYPE = "application/json"
"""pystac's `MediaType.JSON`: the type of a link to a Catalog or Collection document."""
EXTENT_FROM_ITEMS = "imagery_archive:extent_from_items"
"""False until an Item with a footprint is added: until then the bbox is the whole Earth (STAC needs one)."""
COLLECTION_DESCRIPTION = (
    f"Cloud Optimized GeoTIFFs written by {SERVICE_NAME}; each Item's 'original' asset is the untouched "
    "upload, archived (restore it before reading if its class says so)"
)


def new_collection(collection_id: str, href: str, root_href: str) -> dict[str, Any]:
    """An empty Collection at `href` (no Item yet): `grown` gives it its first extent."""
    import pystac  # noqa: PLC0415 - once per Collection, never at a cold start (see pipeline.describe_scene_lazily)

    no_time_yet: list[list[datetime | None]] = [[None, None]]
    collection = pystac.Collection(
        id=collection_id,
        description=COLLECTION_DESCRIPTION,
        extent=pystac.Extent(pystac.SpatialExtent([WHOLE_EARTH]), pystac.TemporalExtent(no_time_yet)),
        license="other",
        extra_fields={EXTENT_FROM_ITEMS: False},
    )
    collection.add_link(pystac.Link(pystac.RelType.SELF, href, pystac.MediaType.JSON))
    collection.add_link(pystac.Link(pystac.RelType.ROOT, root_href, pystac.MediaType.JSON))
    collection.add_link(pystac.Link(pystac.RelType.PARENT, root_href, pystac.MediaType.JSON))
    return collection.to_dict(include_self_link=True, transform_hrefs=False)


def new_root_catalog(href: str, description: str) -> dict[str, Any]:
    """The root Catalog at `href`, with no child yet."""
    import pystac  # noqa: PLC0415 - once per bucket, never at a cold start

    catalog = pystac.Catalog(id=f"{SERVICE_NAME}-catalog", description=description)
    catalog.add_link(pystac.Link(pystac.RelType.SELF, href, pystac.MediaType.JSON))
    catalog.add_link(pystac.Link(pystac.RelType.ROOT, href, pystac.MediaType.JSON))
    return catalog.to_dict(include_self_link=True, transform_hrefs=False)


def with_child(catalog: dict[str, Any], child_href: str, title: str) -> dict[str, Any] | None:
    """`catalog` with a `child` link to `child_href`; None if it has one already."""
    if any(link["rel"] == "child" and link["href"] == child_href for link in catalog["links"]):
        return None
    child = {"rel": "child", "href": child_href, "type": JSON_MEDIA_TYPE, "title": title}
    return {**catalog, "links": [*catalog["links"], child]}


def grown(collection: dict[str, Any], item: dict[str, Any]) -> dict[str, Any] | None:
    """`collection` with its extent widened to cover `item`; None if it covers it already."""
    spatial = collection["extent"]["spatial"]["bbox"][0]
    start, end = collection["extent"]["temporal"]["interval"][0]
    new_spatial = _spatial_union(spatial, item.get("bbox"), from_items=collection.get(EXTENT_FROM_ITEMS, True))
    item_start, item_end = _item_interval(item["properties"])
    new_start = item_start if start is None or _instant(item_start) < _instant(start) else start
    new_end = item_end if end is None or _instant(item_end) > _instant(end) else end
    if new_spatial == spatial and (new_start, new_end) == (start, end):
        return None
    extent = {"spatial": {"bbox": [new_spatial]}, "temporal": {"interval": [[new_start, new_end]]}}
    grown_collection = {**collection, "extent": extent}
    if item.get("bbox"):
        grown_collection[EXTENT_FROM_ITEMS] = True
    return grown_collection


def _item_interval(properties: dict[str, Any]) -> tuple[str, str]:
    start = properties.get("start_datetime") or properties["datetime"]
    end = properties.get("end_datetime") or properties["datetime"]
    return start, end


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _spatial_union(extent: list[float], bbox: list[float] | None, *, from_items: bool) -> list[float]:
    """The smallest [west, south, east, north] covering `extent` and `bbox` (2D or 3D), longitudes on a circle."""
    if not bbox:
        return extent
    box = [bbox[0], bbox[1], bbox[-3 if len(bbox) == 6 else 2], bbox[-1]]
    if not from_items:
        return [float(value) for value in box]
    west, east = longitude_union((extent[0], extent[2]), (box[0], box[2]))
    return [west, min(extent[1], box[1]), east, max(extent[3], box[3])]


def longitude_union(first: tuple[float, float], second: tuple[float, float]) -> tuple[float, float]:
    """The shortest (west, east) arc covering both arcs; west > east where it crosses 180°."""
    arcs = [_arc(*first), _arc(*second)]
    candidates = []
    for (start, length), (other_start, other_length) in (arcs, arcs[::-1]):
        candidates.append((max(length, (other_start - start) % 360 + other_length), start))
    length, start = min(candidates)
    if length >= 360:
        return -180.0, 180.0
    east = start + length
    return float(start), float(east - 360 if east > 180 else east)


def _arc(west: float, east: float) -> tuple[float, float]:
    """(start, length in degrees eastward) of a bbox's longitudes; a whole-Earth bbox is 360 long."""
    if west == -180 and east == 180:
        return -180.0, 360.0
    return west, (east - west) % 360
