"""Where an image lies on Earth: its footprint as WGS84 longitude/latitude, read from the image alone.

The footprint is traced in pixel space first, then every vertex goes through the image's own
georeferencing, whatever it is: a geotransform with a coordinate system (most GeoTIFFs, JPEG 2000,
NITF IGEOLO corners), rational polynomial coefficients (RPCs: raw satellite scenes), or ground
control points (GCPs: SAR, scanned imagery). Where the image has a mask (nodata, alpha, an internal
mask) the trace is its valid data, polygonized on a decimated copy of the mask, so a collar of
nodata around a scene is not claimed as coverage. Edges are densified before transforming, so a
long edge follows the curve it becomes in longitude/latitude.

Scenes across 180° and around a pole: STAC (GeoJSON, RFC 7946 3.1.9) wants a geometry split at the
antimeridian and a bbox whose west is greater than its east; a pole-containing footprint reaches the
pole and spans every longitude. Each transformed ring is first wound counter-clockwise on the sphere,
then split by the `antimeridian` package (a ring that goes once round a pole is closed over the pole
of its own hemisphere). GCPs given in longitude/latitude that wrap at 180° (a swath over Fiji) are
unwrapped before the thin-plate spline sees them, which would otherwise bend the scene round the globe.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import antimeridian
import shapely
from osgeo import gdal, ogr
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

gdal.UseExceptions()
ogr.UseExceptions()

MASK_TRACE_SIZE = 512
"""Longest side, in pixels, of the decimated mask that is polygonized (GDAL reads it from overviews)."""
EDGE_VERTICES = 16
"""Vertices per image side at least, so edges follow their curvature in longitude/latitude."""
MIN_PART_SHARE = 0.01
"""Parts of the valid area smaller than this share of it are specks (isolated valid pixels), not coverage."""
COORDINATE_DECIMALS = 7
"""About 1 cm: more digits would only describe the transform's rounding noise."""
PLACEHOLDER_GEOTRANSFORMS = {(0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)}
"""Geotransforms that only restate pixel coordinates (written beside RPCs by some tools)."""


@dataclass(frozen=True)
class Footprint:
    """A GeoJSON geometry and its bbox in WGS84, how they were found, or why there are none."""

    geometry: dict[str, Any] | None
    bbox: list[float] | None
    method: str
    """'geotransform', 'RPCs', 'GCPs' or 'none'."""
    traced: str
    """'valid-data mask' or 'image extent' (what was traced in pixel space), or why nothing was."""

    @property
    def crosses_antimeridian(self) -> bool:
        """True when the bbox goes across 180° (its west is greater than its east)."""
        return self.bbox is not None and self.bbox[0] > self.bbox[2]


def image_footprint(dataset: gdal.Dataset) -> Footprint:
    """The footprint of `dataset` (see the module docstring); a null geometry says why in `traced`."""
    method, options = georeferencing(dataset)
    if not options:
        return Footprint(None, None, "none", method)
    try:
        transformer = gdal.Transformer(_with_unwrapped_gcps(dataset) if method == "GCPs" else dataset, None, options)
        traced, rings = _pixel_outline(dataset)
        if not rings:
            return Footprint(None, None, method, traced)
        geometry = _to_wgs84(rings, transformer)
    except (RuntimeError, ValueError) as error:
        return Footprint(None, None, method, f"its {method} could not be transformed to WGS84: {error}")
    bbox = [round(value, COORDINATE_DECIMALS) for value in antimeridian.bbox(geometry)]
    return Footprint(json.loads(shapely.to_geojson(geometry)), bbox, method, traced)


def georeferencing(dataset: gdal.Dataset) -> tuple[str, list[str]]:
    """Which georeferencing to trust and the GDAL transformer options for it; no options: why none.

    A geotransform with a coordinate system wins; a placeholder one (pixel coordinates restated)
    doesn't count. RPCs are evaluated at their own mean height (HEIGHT_OFF), GCPs by a thin-plate
    spline (exact at every GCP).
    """
    wgs84 = "DST_SRS=EPSG:4326"
    geotransform = dataset.GetGeoTransform(can_return_null=True)
    usable_geotransform = geotransform is not None and tuple(geotransform) not in PLACEHOLDER_GEOTRANSFORMS
    if usable_geotransform and dataset.GetSpatialRef() is not None:
        return "geotransform", [wgs84]
    rpc = dataset.GetMetadata("RPC")
    if rpc:
        return "RPCs", ["METHOD=RPC", f"RPC_HEIGHT={float(rpc.get('HEIGHT_OFF', 0)):g}", wgs84]
    if dataset.GetGCPCount() >= 3 and dataset.GetGCPSpatialRef() is not None:
        return "GCPs", ["METHOD=GCP_TPS", wgs84]
    if usable_geotransform:
        return "a geotransform but no coordinate reference system: it can't be placed on Earth", []
    return "no georeferencing (no geotransform with a coordinate system, no RPCs, no GCPs)", []


def _pixel_outline(dataset: gdal.Dataset) -> tuple[str, list[list[tuple[float, float]]]]:
    """What was traced, and the outer rings of the traced area in full-resolution pixel coordinates."""
    width, height = dataset.RasterXSize, dataset.RasterYSize
    mask = dataset.GetRasterBand(1).GetMaskBand()
    if dataset.GetRasterBand(1).GetMaskFlags() & gdal.GMF_ALL_VALID:
        return "image extent", [_densified([(0, 0), (width, 0), (width, height), (0, height), (0, 0)], width, height)]
    scale = max(width, height) / MASK_TRACE_SIZE if max(width, height) > MASK_TRACE_SIZE else 1.0
    trace_width, trace_height = max(1, round(width / scale)), max(1, round(height / scale))
    values = mask.ReadRaster(0, 0, width, height, trace_width, trace_height, buf_type=gdal.GDT_Byte)
    trace = gdal.GetDriverByName("MEM").Create("", trace_width, trace_height, 1, gdal.GDT_Byte)
    trace.GetRasterBand(1).WriteRaster(0, 0, trace_width, trace_height, values)
    polygons = _polygonized(trace.GetRasterBand(1))
    if polygons.IsEmpty():
        return "no valid pixels (the mask is empty)", []
    x_scale, y_scale = width / trace_width, height / trace_height
    rings = []
    for index in range(polygons.GetGeometryCount()):
        outer = polygons.GetGeometryRef(index).GetGeometryRef(0)
        points = [(x * x_scale, y * y_scale) for x, y, *_ in outer.GetPoints()]
        rings.append(_densified(points, width, height))
    return "valid-data mask", rings


def _polygonized(band: gdal.Band) -> ogr.Geometry:
    """The non-zero area of `band` as a multipolygon: holes dropped, specks dropped, one pixel simplified."""
    source = ogr.GetDriverByName("Memory").CreateDataSource("")  # must outlive its layer
    layer = source.CreateLayer("mask")
    layer.CreateField(ogr.FieldDefn("valid", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, 0, ["8CONNECTED=8"])
    parts = ogr.Geometry(ogr.wkbMultiPolygon)
    for feature in layer:
        outer = ogr.Geometry(ogr.wkbPolygon)
        outer.AddGeometry(feature.GetGeometryRef().GetGeometryRef(0))
        parts.AddGeometry(outer)
    merged = parts.UnionCascaded() if parts.GetGeometryCount() > 1 else parts
    simplified = merged.SimplifyPreserveTopology(1.0)
    kept = ogr.Geometry(ogr.wkbMultiPolygon)
    total = simplified.GetArea()
    for polygon in _polygons_of(simplified):
        if polygon.GetArea() >= max(4.0, total * MIN_PART_SHARE):  # specks of nodata, not coverage
            outer = ogr.Geometry(ogr.wkbPolygon)
            outer.AddGeometry(polygon.GetGeometryRef(0))
            kept.AddGeometry(outer)
    return kept


def _polygons_of(geometry: ogr.Geometry) -> list[ogr.Geometry]:
    if geometry.GetGeometryType() in (ogr.wkbPolygon, ogr.wkbPolygon25D):
        return [geometry]
    return [geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())]


def _densified(points: list[tuple[float, float]], width: int, height: int) -> list[tuple[float, float]]:
    """`points` (a closed ring) with extra vertices so no segment is longer than 1/EDGE_VERTICES of a side."""
    step = max(width, height) / EDGE_VERTICES
    dense: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        count = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        dense.extend((x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count) for i in range(count))
    dense.append(points[-1])
    return dense


def _to_wgs84(rings: list[list[tuple[float, float]]], transformer: gdal.Transformer) -> BaseGeometry:
    """Pixel rings to one valid WGS84 (multi)polygon split at 180°; fails if any vertex can't be transformed."""
    parts: list[shapely.Polygon] = []
    for ring in rings:
        transformed, success = transformer.TransformPoints(0, ring)
        if not all(success) or any(not (-90 <= lat <= 90) for _lon, lat, *_ in transformed):
            raise ValueError("some of its outline falls outside the Earth")
        parts.extend(_split_at_antimeridian([(_wrapped(lon), lat) for lon, lat, *_ in transformed]))
    geometry = shapely.set_precision(shapely.unary_union(parts), 10**-COORDINATE_DECIMALS)
    polygons = [orient(part) for part in _polygons_in(geometry)]
    if not polygons:
        raise ValueError("its outline has no area in longitude/latitude")
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _wrapped(lon: float) -> float:
    """`lon` in [-180, 180]: RPCs and unwrapped GCPs give longitudes beyond 180° for scenes across it."""
    return lon if -180 <= lon <= 180 else (lon + 180) % 360 - 180


def _split_at_antimeridian(ring: list[tuple[float, float]]) -> list[shapely.Polygon]:
    """One ring in longitude/latitude as the polygons it covers, split at 180°, closed over a pole it goes round.

    The `antimeridian` package reads a ring's winding as which side is inside, so the ring is first wound
    counter-clockwise on the sphere: a ring going once round a pole is wound so that pole is inside
    (eastward round the North Pole, westward round the South Pole), any other ring by its signed area
    with longitudes unwrapped.
    """
    turns = _longitude_turns(ring)
    if turns:
        north = sum(lat for _lon, lat in ring) > 0
        eastward_wanted = north
        if (turns > 0) != eastward_wanted:
            ring = ring[::-1]
    elif _signed_area(_unwrapped(ring)) < 0:
        ring = ring[::-1]
    if not turns and not _jumps_across_antimeridian(ring):
        fixed: BaseGeometry = shapely.Polygon(ring)  # nothing to split: most scenes
    else:
        fixed = antimeridian.fix_polygon(shapely.Polygon(ring), fix_winding=False)
    return [part for part in _polygons_in(fixed) if part.area > 0]


def _jumps_across_antimeridian(ring: list[tuple[float, float]]) -> bool:
    """True if a step of the closed ring jumps more than 180° in longitude: it crosses 180°, as the
    `antimeridian` package judges a crossing."""
    return any(abs(lon1 - lon0) > 180 for (lon0, _), (lon1, _) in itertools.pairwise([*ring, ring[0]]))


def _unwrapped(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The ring with each step in longitude taken the short way, so a ring across 180° stays in one piece."""
    unwrapped = [ring[0]]
    for (lon0, _), (lon1, lat1) in itertools.pairwise(ring):
        step = (lon1 - lon0 + 180) % 360 - 180
        unwrapped.append((unwrapped[-1][0] + step, lat1))
    return unwrapped


def _longitude_turns(ring: list[tuple[float, float]]) -> int:
    """How many times the closed ring goes round the pole eastward (negative: westward); 0 for most scenes."""
    unwrapped = _unwrapped([*ring, ring[0]] if ring[0] != ring[-1] else ring)
    return round((unwrapped[-1][0] - unwrapped[0][0]) / 360)


def _signed_area(ring: list[tuple[float, float]]) -> float:
    """Shoelace area: positive for a counter-clockwise ring."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise([*ring, ring[0]])) / 2


def _polygons_in(geometry: BaseGeometry) -> list[shapely.Polygon]:
    """The polygons of a geometry (repairs and unions may add collections with lines or points)."""
    if isinstance(geometry, shapely.Polygon):
        return [geometry] if not geometry.is_empty else []
    return [part for member in getattr(geometry, "geoms", []) for part in _polygons_in(member)]


def _with_unwrapped_gcps(dataset: gdal.Dataset) -> gdal.Dataset:
    """`dataset`, or a stand-in whose longitude/latitude GCPs no longer jump by 360° at 180°.

    A swath across 180° lists GCPs at 179.9 and -179.9: interpolated as they are, its middle would
    run the long way round. Shifted by 360° where they jump, they are continuous; `_wrapped` brings
    the transformed outline back to [-180, 180].
    """
    srs = dataset.GetGCPSpatialRef()
    gcps = dataset.GetGCPs()
    longitudes = [gcp.GCPX for gcp in gcps]
    if srs is None or not srs.IsGeographic() or max(longitudes) - min(longitudes) <= 180:
        return dataset
    shifted = [
        gdal.GCP(gcp.GCPX + 360 if gcp.GCPX < 0 else gcp.GCPX, gcp.GCPY, gcp.GCPZ, gcp.GCPPixel, gcp.GCPLine)
        for gcp in gcps
    ]
    stand_in = gdal.GetDriverByName("MEM").Create("", dataset.RasterXSize, dataset.RasterYSize, 0)
    stand_in.SetGCPs(shifted, srs)
    return stand_in
