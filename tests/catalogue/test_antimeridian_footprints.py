"""Footprints and bboxes of scenes that cross 180° or contain a pole, for each way a footprint is computed.

Each scene is a bundled image placed somewhere else: Landsat pixels georeferenced in UTM zone 60 over
Fiji (geotransform), the Sentinel-1 GCPs moved so the swath straddles 180° and their longitudes written
wrapped, as a real product over Fiji has them (GCPs), the WorldView RPCs centred just west of 180°
(RPCs), and the Landsat pixels in Antarctic polar stereographic, centred on the South Pole. STAC wants
the geometry split at the antimeridian (RFC 7946 section 3.1.9) and a bbox whose west is greater than
its east; the expected corners are computed here through OSR or from the GCPs themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from osgeo import gdal, osr
from shapely.geometry import Point, shape

from imagery_archive.catalogue.footprint import image_footprint
from imagery_archive.catalogue.item import build_item
from imagery_archive_cli.catalogue.stac_validation import validate
from tests.catalogue.test_stac import facts_for, no_network  # noqa: F401  (a fixture)
from tests.conftest import sample_path

gdal.UseExceptions()

FIJI_UTM_60S = 32760
ANTARCTIC_POLAR_STEREOGRAPHIC = 3031
# Upper-left and lower-right corners in UTM zone 60S, about 80 km wide: 180° is at about x=818 km at 17°S.
FIJI_ULLR = (780_000.0, 8_130_000.0, 860_000.0, 8_050_000.0)


def _placed(source: str, destination: Path, srs: int, ullr: tuple[float, float, float, float]) -> Path:
    gdal.Translate(str(destination), str(sample_path(source)), outputSRS=f"EPSG:{srs}", outputBounds=list(ullr))
    return destination


@pytest.fixture(scope="module")
def fiji_utm(tmp_path_factory) -> Path:
    return _placed("landsat8_b4_150m.tif", tmp_path_factory.mktemp("fiji") / "fiji_utm60.tif", FIJI_UTM_60S, FIJI_ULLR)


@pytest.fixture(scope="module")
def fiji_gcps(tmp_path_factory) -> Path:
    """The Sentinel-1 sample with its GCPs moved 180° minus its centre east, longitudes wrapped to [-180, 180]."""
    source = gdal.Open(str(sample_path("sentinel1_grd_gcps.tif")))
    gcps = source.GetGCPs()
    centre = sum(gcp.GCPX for gcp in gcps) / len(gcps)
    moved = []
    for gcp in gcps:
        lon = gcp.GCPX + (180.0 - centre)
        wrapped = lon - 360 if lon > 180 else lon
        moved.append(gdal.GCP(wrapped, gcp.GCPY - 30.0, gcp.GCPZ, gcp.GCPPixel, gcp.GCPLine))
    destination = tmp_path_factory.mktemp("fiji") / "fiji_gcps.tif"
    copy = gdal.Translate(str(destination), source)
    copy.SetGCPs(moved, source.GetGCPProjection())
    copy = None
    return destination


@pytest.fixture(scope="module")
def fiji_rpcs(tmp_path_factory) -> Path:
    """The WorldView sample with its RPCs moved so its scene (0.005° wide, 0.0525° west of LONG_OFF) is on 180°."""
    destination = tmp_path_factory.mktemp("fiji") / "fiji_rpcs.tif"
    copy = gdal.Translate(str(destination), str(sample_path("worldview_pan_rpc_11bit.tif")))
    rpc = copy.GetMetadata("RPC")
    rpc["LONG_OFF"] = "-179.9475"
    copy.SetMetadata(rpc, "RPC")
    copy = None
    return destination


@pytest.fixture(scope="module")
def south_pole(tmp_path_factory) -> Path:
    half = 400_000.0
    return _placed(
        "landsat8_b4_150m.tif",
        tmp_path_factory.mktemp("pole") / "south_pole.tif",
        ANTARCTIC_POLAR_STEREOGRAPHIC,
        (-half, half, half, -half),
    )


def utm_corners_in_lonlat() -> list[tuple[float, float]]:
    """The four corners of the Fiji scene through OSR, independently of the footprint code."""
    utm, wgs84 = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(FIJI_UTM_60S)
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs84 = osr.CoordinateTransformation(utm, wgs84)
    west, north, east, south = FIJI_ULLR
    return [to_wgs84.TransformPoint(x, y)[:2] for x, y in [(west, north), (east, north), (east, south), (west, south)]]


def assert_split_at_180(geometry: dict, bbox: list[float], what: str) -> None:
    """Two parts, one ending at 180° and one starting at -180°, none wider than the scene; bbox west > east."""
    assert geometry["type"] == "MultiPolygon", f"{what}: a footprint across 180° must be split in two parts"
    parts = [shape({"type": "Polygon", "coordinates": coordinates}) for coordinates in geometry["coordinates"]]
    assert len(parts) == 2, f"{what}: expected one part each side of 180°, got {len(parts)}"
    east_part, west_part = sorted(parts, key=lambda part: -part.bounds[2])
    assert east_part.bounds[2] == pytest.approx(180.0), f"{what}: the eastern part must end at 180°"
    assert west_part.bounds[0] == pytest.approx(-180.0), f"{what}: the western part must start at -180°"
    for part in parts:
        assert part.bounds[2] - part.bounds[0] < 5, f"{what}: a part spans {part.bounds}: the long way round"
        assert part.is_valid
    west, _south, east, _north = bbox
    assert west > east, f"{what}: the bbox of a scene across 180° has west > east, got {bbox}"
    assert west == pytest.approx(east_part.bounds[0]), f"{what}: the bbox starts where the eastern part does"
    assert east == pytest.approx(west_part.bounds[2]), f"{what}: the bbox ends where the western part does"


def test_a_utm_60_scene_over_fiji_is_split_at_180_with_a_bbox_across_it(fiji_utm):
    footprint = image_footprint(gdal.Open(str(fiji_utm)))
    assert footprint.method == "geotransform"
    assert_split_at_180(footprint.geometry, footprint.bbox, "UTM 60 scene over Fiji")
    assert footprint.crosses_antimeridian
    corners = utm_corners_in_lonlat()
    west, south, east, north = footprint.bbox
    for lon, lat in corners:
        assert lon >= west - 1e-6 or lon <= east + 1e-6, f"corner {lon} outside the bbox's longitudes {footprint.bbox}"
        assert south - 1e-6 <= lat <= north + 1e-6, f"corner {lat} outside the bbox's latitudes {footprint.bbox}"
    # The split parts, joined again over 0-360° longitudes, cover the scene's own outline, not the globe.
    parts = shape(footprint.geometry)
    joined = shapely.unary_union([shapely.affinity.translate(p, 360) if p.bounds[0] < 0 else p for p in parts.geoms])
    outline = shapely.Polygon([(lon % 360, lat) for lon, lat in corners])
    assert joined.symmetric_difference(outline).area < 0.01 * outline.area, "the parts are the scene, nothing more"


def test_a_gcp_scene_whose_gcp_longitudes_wrap_at_180_is_split_there(fiji_gcps):
    footprint = image_footprint(gdal.Open(str(fiji_gcps)))
    assert footprint.method == "GCPs"
    assert_split_at_180(footprint.geometry, footprint.bbox, "GCP scene over Fiji")
    gcps = gdal.Open(str(fiji_gcps)).GetGCPs()
    parts = shape(footprint.geometry)
    for gcp in gcps:  # GCPs along an edge lie between densified vertices: within 0.001° (about 100 m)
        assert parts.distance(Point(gcp.GCPX, gcp.GCPY)) < 1e-3, f"GCP ({gcp.GCPX}, {gcp.GCPY}) outside the footprint"


def test_an_rpc_scene_straddling_180_is_split_there(fiji_rpcs):
    footprint = image_footprint(gdal.Open(str(fiji_rpcs)))
    assert footprint.method == "RPCs"
    assert_split_at_180(footprint.geometry, footprint.bbox, "RPC scene over Fiji")
    west, _south, east, _north = footprint.bbox
    assert 179.99 < west < 180, "a scene 0.005° wide, placed on 180°: its west edge just short of it"
    assert -180 < east < -179.99, "a scene 0.005° wide, placed on 180°: its east edge just beyond it"


def test_a_scene_around_the_south_pole_contains_it_and_spans_every_longitude(south_pole):
    footprint = image_footprint(gdal.Open(str(south_pole)))
    west, south, east, north = footprint.bbox
    assert (west, south, east) == (-180.0, -90.0, 180.0), f"a scene containing the pole: {footprint.bbox}"
    polar, wgs84 = osr.SpatialReference(), osr.SpatialReference()
    polar.ImportFromEPSG(ANTARCTIC_POLAR_STEREOGRAPHIC)
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    _lon, corner_lat, _ = osr.CoordinateTransformation(polar, wgs84).TransformPoint(400_000.0, 400_000.0)
    assert north == pytest.approx(corner_lat, abs=1e-3), "the corners are the scene's northernmost points"
    geometry = shape(footprint.geometry)
    assert geometry.is_valid
    assert geometry.covers(Point(0, -89.9)), "the pole is in the footprint"
    assert geometry.covers(Point(179, -89.9)), "the pole is in the footprint, at every longitude"
    assert not geometry.covers(Point(0, -80)), "the footprint must not cover the rest of the globe"
    assert not footprint.crosses_antimeridian, "a bbox over every longitude is not one 'across' 180°"


def test_the_item_of_a_cog_across_180_is_valid_stac(cog, fiji_utm, no_network):  # noqa: F811
    item = build_item(cog(fiji_utm).output, facts_for("landsat8_b4_150m.tif")).to_dict(
        include_self_link=False, transform_hrefs=False
    )
    validate(item, href="fiji.json")
    assert_split_at_180(item["geometry"], item["bbox"], "the Item of the COG")
