"""Where an image lies on Earth: its footprint as WGS84 longitude/latitude, read from the image alone.

The footprint is traced in pixel space first, then every vertex goes through the image's own
georeferencing, whatever it is: a geotransform with a coordinate system (most GeoTIFFs, JPEG 2000,
NITF IGEOLO corners), rational polynomial coefficients (RPCs: raw satellite scenes), or ground
control points (GCPs: SAR, scanned imagery). Where the image has a mask (nodata, alpha, an internal
mask) the trace is its valid data, polygonized on a decimated copy of the mask, so a collar of
nodata around a scene is not claimed as coverage. Edges are densified before transforming, so a
long edge follows the curve it becomes in longitude/latitude.

Not handled: footprints crossing the antimeridian or containing a pole (they come out as one
polygon spanning the long way round; `Footprint.crosses_antimeridian` says so).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

from osgeo import gdal, ogr

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
        return self.bbox is not None and self.bbox[2] - self.bbox[0] > 180


def image_footprint(dataset: gdal.Dataset) -> Footprint:
    """The footprint of `dataset` (see the module docstring); a null geometry says why in `traced`."""
    method, options = georeferencing(dataset)
    if not options:
        return Footprint(None, None, "none", method)
    try:
        transformer = gdal.Transformer(dataset, None, options)
        traced, rings = _pixel_outline(dataset)
        if not rings:
            return Footprint(None, None, method, traced)
        geometry = _to_wgs84(rings, transformer)
    except (RuntimeError, ValueError) as error:
        return Footprint(None, None, method, f"its {method} could not be transformed to WGS84: {error}")
    west, east, south, north = geometry.GetEnvelope()
    bbox = [round(value, COORDINATE_DECIMALS) for value in (west, south, east, north)]
    geojson = json.loads(geometry.ExportToJson([f"COORDINATE_PRECISION={COORDINATE_DECIMALS}"]))
    return Footprint(geojson, bbox, method, traced)


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


def _to_wgs84(rings: list[list[tuple[float, float]]], transformer: gdal.Transformer) -> ogr.Geometry:
    """Pixel rings to one WGS84 (multi)polygon; fails if any vertex can't be transformed."""
    polygons = ogr.Geometry(ogr.wkbMultiPolygon)
    for ring in rings:
        transformed, success = transformer.TransformPoints(0, ring)
        if not all(success) or any(not (-90 <= lat <= 90) for _lon, lat, *_ in transformed):
            raise ValueError("some of its outline falls outside the Earth")
        outline = ogr.Geometry(ogr.wkbLinearRing)
        for lon, lat, *_ in transformed:
            outline.AddPoint_2D(lon, lat)
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(outline)
        polygons.AddGeometry(polygon)
    geometry = polygons.GetGeometryRef(0).Clone() if polygons.GetGeometryCount() == 1 else polygons
    if not geometry.IsValid():
        geometry = geometry.MakeValid()
    return geometry
