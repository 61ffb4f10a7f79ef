"""The STAC Item of each compressed scene: where it lies, when it was taken, what it is, valid STAC.

Footprints are checked against the image's own corner coordinates, computed here independently of
the code under test: the original's geotransform through OSR, NITF's IGEOLO string parsed by hand,
the GCPs at the image corners, the RPCs' own validity box. Every Item is validated offline against
the STAC schemas with sockets blocked, so a validation that tried the network would fail.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
from osgeo import gdal, ogr, osr
from pystac.validation.stac_validator import GetSchemaError

from imagery_archive.catalogue.acquisition_time import acquisition_time
from imagery_archive.catalogue.footprint import image_footprint
from imagery_archive.catalogue.item import COG_MEDIA_TYPE, build_item, describe_scene
from imagery_archive.catalogue.scene_facts import SceneFacts
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive_cli.catalogue.stac_validation import validate
from tests.conftest import sample_path

gdal.UseExceptions()

UPLOADED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("STAC validation tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def facts_for(name: str, storage_class: str = "GLACIER") -> SceneFacts:
    original = sample_path(name)
    stem = Path(name).stem
    return SceneFacts(
        item_id=f"scenes/{stem}",
        output=ObjectLocation("out", f"output/scenes/{stem}.tif"),
        archive=ObjectLocation("out", f"archive/scenes/{name}"),
        storage_class=storage_class,
        uploaded_from=ObjectLocation("in", f"scenes/{name}"),
        uploaded_at=UPLOADED,
        original_bytes=original.stat().st_size,
        original_sha256=base64.b64encode(hashlib.sha256(original.read_bytes()).digest()).decode(),
        encoding="JPEG q75",
        encoding_reason="8-bit RGB (YCbCr): JPEG",
        ssim=0.98,
        compression_ratio=12.5,
    )


def item_of(cog, name: str) -> dict:
    """The Item of a sample's COG, as JSON."""
    return build_item(cog(name).output, facts_for(name)).to_dict(include_self_link=False, transform_hrefs=False)


# --- corners, computed independently of the footprint code --------------------------------------


def wgs84() -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def geotransform_outline(path: Path, per_edge: int = 1) -> list[tuple[float, float]]:
    """The original's outer edge, `per_edge` points a side from its geotransform, through OSR to lon/lat."""
    dataset = gdal.Open(str(path))
    a, b, c, d, e, f = dataset.GetGeoTransform()
    srs = dataset.GetSpatialRef()
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs84 = osr.CoordinateTransformation(srs, wgs84())
    width, height = dataset.RasterXSize, dataset.RasterYSize
    corners = [(0, 0), (width, 0), (width, height), (0, height), (0, 0)]
    pixels = [
        (x0 + (x1 - x0) * i / per_edge, y0 + (y1 - y0) * i / per_edge)
        for (x0, y0), (x1, y1) in itertools.pairwise(corners)
        for i in range(per_edge)
    ]
    return [to_wgs84.TransformPoint(a + b * x + c * y, d + e * x + f * y)[:2] for x, y in pixels]


def geotransform_corners(path: Path) -> list[tuple[float, float]]:
    """The four outer corners of the original, in lon/lat."""
    return geotransform_outline(path)


def igeolo_corners(path: Path) -> list[tuple[float, float]]:
    """NITF IGEOLO in ICORDS=G form (ddmmssXdddmmssY, four times), parsed by hand: corner pixel centres."""
    text = gdal.Open(str(path)).GetMetadataItem("NITF_IGEOLO")
    corners = []
    for i in range(4):
        part = text[i * 15 : (i + 1) * 15]
        lat = int(part[0:2]) + int(part[2:4]) / 60 + int(part[4:6]) / 3600
        lon = int(part[7:10]) + int(part[10:12]) / 60 + int(part[12:14]) / 3600
        corners.append((-lon if part[14] == "W" else lon, -lat if part[6] == "S" else lat))
    return corners


def polygon(points: list[tuple[float, float]]) -> ogr.Geometry:
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in [*points, points[0]]:
        ring.AddPoint_2D(x, y)
    shape = ogr.Geometry(ogr.wkbPolygon)
    shape.AddGeometry(ring)
    return shape


def vertices(geometry: dict) -> list[tuple[float, float]]:
    rings = geometry["coordinates"] if geometry["type"] == "Polygon" else [p[0] for p in geometry["coordinates"]]
    return [tuple(point) for ring in rings for point in ring]


def nearest(point: tuple[float, float], points: list[tuple[float, float]]) -> float:
    return min(np.hypot(point[0] - x, point[1] - y) for x, y in points)


# --- footprints ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["s2_tci_60m.jp2", "s2_b04_60m.jp2", "nitf_jitc_U_1001A_aerial_8bit.ntf", "landsat8_rgb16_60m.tif"]
)
def test_a_fully_valid_image_has_its_four_corners_as_footprint_corners(cog, name):
    item = item_of(cog, name)
    corners = geotransform_corners(sample_path(name))
    points = vertices(item["geometry"])
    for corner in corners:
        assert nearest(corner, points) < 1e-6, f"{name}: corner {corner} is not on the footprint"
    west, south, east, north = item["bbox"]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    rounding = 1e-7  # coordinates are published to 7 decimals
    assert west <= min(xs) + rounding, "the bbox holds every corner"
    assert east >= max(xs) - rounding
    assert south <= min(ys) + rounding
    assert north >= max(ys) - rounding
    span = max(max(xs) - min(xs), max(ys) - min(ys))
    assert max(min(xs) - west, east - max(xs), min(ys) - south, north - max(ys)) < span * 0.01, "edges bulge too far"
    assert item["properties"]["imagery_archive:geometry_method"] == "geotransform"
    assert item["properties"]["imagery_archive:geometry_traced"] == "image extent"


def test_a_nodata_collar_is_left_out_of_the_footprint(cog):
    item = item_of(cog, "RGB.byte.tif")
    extent = polygon(geotransform_outline(sample_path("RGB.byte.tif"), per_edge=64))
    footprint = ogr.CreateGeometryFromJson(json.dumps(item["geometry"]))
    assert item["properties"]["imagery_archive:geometry_traced"] == "valid-data mask"
    assert footprint.Within(extent.Buffer(1e-6)), "the footprint lies inside the image's edges"
    assert 0.5 < footprint.GetArea() / extent.GetArea() < 0.85, "the rotated scene, not its nodata collar"
    assert footprint.GetGeometryType() == ogr.wkbPolygon, "one scene, one polygon: no specks, no holes"
    west, south, east, north = item["bbox"]
    assert (east - west) * (north - south) <= extent.GetArea() * 1.2


def test_nitf_igeolo_corners_bound_the_footprint(cog):
    name = "nitf_spot_cib_palette.ntf"
    item = item_of(cog, name)
    corners = igeolo_corners(sample_path(name))
    dataset = gdal.Open(str(sample_path(name)))
    half_pixel = max(abs(dataset.GetGeoTransform()[1]), abs(dataset.GetGeoTransform()[5]))
    footprint = ogr.CreateGeometryFromJson(json.dumps(item["geometry"]))
    assert footprint.Within(polygon(corners).Buffer(half_pixel * 1.01)), "inside IGEOLO's corners"
    west, _south, _east, north = item["bbox"]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    assert abs(west - min(xs)) < 3 * half_pixel
    assert abs(north - max(ys)) < 3 * half_pixel


def test_an_rpc_image_is_placed_by_its_rpcs_not_its_placeholder_geotransform(cog):
    name = "worldview_pan_rpc_11bit.tif"
    item = item_of(cog, name)
    rpc = gdal.Open(str(sample_path(name))).GetMetadata("RPC")
    lat, lat_range = float(rpc["LAT_OFF"]), float(rpc["LAT_SCALE"])
    lon, lon_range = float(rpc["LONG_OFF"]), float(rpc["LONG_SCALE"])
    west, south, east, north = item["bbox"]
    assert lon - lon_range <= west < east <= lon + lon_range, "within the RPCs' own validity box"
    assert lat - lat_range <= south < north <= lat + lat_range
    assert item["properties"]["imagery_archive:geometry_method"] == "RPCs"
    assert item["properties"]["proj:code"] is None
    assert "proj:transform" not in item["properties"]


def test_a_gcp_image_has_its_corner_gcps_as_footprint_corners(cog):
    name = "sentinel1_grd_gcps.tif"
    item = item_of(cog, name)
    dataset = gdal.Open(str(sample_path(name)))
    width, height = dataset.RasterXSize, dataset.RasterYSize
    corner_gcps = [
        (gcp.GCPX, gcp.GCPY)
        for gcp in dataset.GetGCPs()
        if min(abs(gcp.GCPPixel), abs(gcp.GCPPixel - width)) < 1
        and min(abs(gcp.GCPLine), abs(gcp.GCPLine - height)) < 1
    ]
    assert len(corner_gcps) == 4, "the sample has a GCP at each corner (within 0.05 pixel of it)"
    west, south, east, north = item["bbox"]
    tenth_of_a_pixel = 0.1 * np.hypot(east - west, north - south) / np.hypot(width, height)
    points = vertices(item["geometry"])
    for corner in corner_gcps:
        assert nearest(corner, points) < tenth_of_a_pixel, f"GCP {corner} is not a footprint corner"
    assert item["properties"]["imagery_archive:geometry_method"] == "GCPs"


def test_an_image_without_georeferencing_has_a_null_geometry_that_says_why(tmp_path):
    plain = tmp_path / "plain.tif"
    pixels = gdal.Open(str(sample_path("shade.tif"))).ReadAsArray()
    dataset = gdal.GetDriverByName("GTiff").Create(str(plain), pixels.shape[1], pixels.shape[0], 1, gdal.GDT_Byte)
    dataset.GetRasterBand(1).WriteArray(pixels)
    dataset = None
    footprint = image_footprint(gdal.Open(str(plain)))
    assert footprint.geometry is None
    assert footprint.bbox is None
    assert "no georeferencing" in footprint.traced
    item = build_item(plain, facts_for("shade.tif")).to_dict(include_self_link=False)
    assert item["geometry"] is None
    assert "bbox" not in item
    assert item["properties"]["imagery_archive:geometry_method"] == "none"


def test_a_geotransform_without_a_crs_is_not_placed_on_earth(tmp_path):
    path = tmp_path / "local.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), 64, 64, 1, gdal.GDT_Byte)
    dataset.SetGeoTransform([1000.0, 2.0, 0.0, 5000.0, 0.0, -2.0])  # metres of some local grid, unnamed
    dataset = None
    footprint = image_footprint(gdal.Open(str(path)))
    assert footprint.geometry is None
    assert "no coordinate reference system" in footprint.traced


# --- time ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected", "source"),
    [
        ("nitf_jitc_U_1001A_aerial_8bit.ntf", datetime(1993, 3, 25, 15, 25, 59, tzinfo=UTC), "NITF_IDATIM"),
        ("nitf_spot_cib_palette.ntf", datetime(1995, 3, 31, 0, 37, 22, tzinfo=UTC), "NITF_IDATIM"),
        ("sentinel1_grd_gcps.tif", datetime(2018, 7, 16, 6, 6, 23, tzinfo=UTC), "TIFFTAG_DATETIME"),
    ],
)
def test_the_datetime_is_the_images_own_and_survives_compression(cog, name, expected, source):
    acquired = acquisition_time(gdal.Open(str(cog(name).output)))
    assert acquired is not None
    assert (acquired.when, acquired.source) == (expected, source)
    item = item_of(cog, name)
    assert pystac.Item.from_dict(item).datetime == expected
    assert item["properties"]["imagery_archive:datetime_source"] == source


def test_an_image_that_states_no_time_gets_its_upload_time_and_says_so(cog):
    item = item_of(cog, "s2_tci_60m.jp2")
    assert pystac.Item.from_dict(item).datetime == UPLOADED
    assert item["properties"]["imagery_archive:datetime_source"] == "upload time"


# --- the Item's extensions and assets ----------------------------------------------------------


def test_the_item_describes_the_cog_its_original_and_thumbnail(cog, tmp_path, no_network):
    name = "RGB.byte.tif"
    files = describe_scene(cog(name).output, facts_for(name), tmp_path)
    item = json.loads(files.item.read_text())
    validate(item)
    data, original, thumbnail = (item["assets"][key] for key in ("data", "original", "thumbnail"))
    assert data["href"] == "./RGB.byte.tif"
    assert data["type"] == COG_MEDIA_TYPE
    assert data["file:size"] == cog(name).output.stat().st_size
    assert data["file:checksum"] == "1220" + hashlib.sha256(cog(name).output.read_bytes()).hexdigest()
    assert [band["data_type"] for band in data["raster:bands"]] == ["uint8"] * 3
    assert data["raster:bands"][0]["spatial_resolution"] == pytest.approx(300.0379266750948)
    assert original["href"] == "s3://out/archive/scenes/RGB.byte.tif"
    assert original["type"] == "image/tiff; application=geotiff"
    assert original["file:size"] == sample_path(name).stat().st_size
    assert original["file:checksum"] == "1220" + hashlib.sha256(sample_path(name).read_bytes()).hexdigest()
    assert original["imagery_archive:storage_class"] == "GLACIER"
    assert original["imagery_archive:restore_required"] is True
    assert thumbnail["href"] == "./RGB.byte.png"
    assert thumbnail["type"] == "image/png"
    properties = item["properties"]
    assert properties["proj:code"] == "EPSG:32618"
    assert properties["proj:shape"] == [718, 791]
    assert properties["proj:transform"] == pytest.approx([300.0379266750948, 0, 101985, 0, -300.041782729805, 2826915])
    assert properties["processing:software"]["GDAL"] == gdal.__version__
    assert properties["imagery_archive:encoding"] == "JPEG q75"
    assert properties["imagery_archive:ssim"] == 0.98
    picture = gdal.Open(str(files.thumbnail))
    assert max(picture.RasterXSize, picture.RasterYSize) == 256
    assert picture.RasterCount == 4, "RGB + alpha"
    alpha = picture.GetRasterBand(4).ReadAsArray()
    assert alpha[0, 0] == 0, "the nodata collar is transparent"
    assert alpha[picture.RasterYSize // 2, picture.RasterXSize // 2] == 255, "the scene is opaque"


def test_raster_bands_keep_nodata_of_lossless_deep_data(cog, no_network):
    item = item_of(cog, "worldview_pan_rpc_11bit.tif")
    validate(item)
    assert item["assets"]["data"]["raster:bands"] == [{"nodata": 0.0, "data_type": "uint16"}]


def test_a_readable_archive_class_needs_no_restore(cog):
    facts = facts_for("shade.tif", storage_class="GLACIER_IR")
    item = build_item(cog("shade.tif").output, facts).to_dict(include_self_link=False)
    assert item["assets"]["original"]["imagery_archive:restore_required"] is False


@pytest.mark.parametrize(
    "name",
    [
        "RGBA.byte.tif",
        "aerial_hro_015m_intmask.tif",
        "alpha.tif",
        "drone_rgba_pix4d.tif",
        "dsm_lidar_float32.tif",
        "landsat8_b4_150m.tif",
        "naip_rgbn_5m.tif",
        "neon_rgb_10cm_SJER.tif",
        "shade.tif",
    ],
)
def test_every_bundled_sample_gets_a_valid_item_inside_its_corners(cog, tmp_path, name, no_network):
    files = describe_scene(cog(name).output, facts_for(name), tmp_path)
    item = json.loads(files.item.read_text())
    validate(item)
    extent = polygon(geotransform_outline(sample_path(name), per_edge=64))
    footprint = ogr.CreateGeometryFromJson(json.dumps(item["geometry"]))
    original = gdal.Open(str(sample_path(name)))  # must outlive its bands
    west, east, south, north = extent.GetEnvelope()
    half_pixel = 0.5 * np.hypot(east - west, north - south) / np.hypot(original.RasterXSize, original.RasterYSize)
    assert footprint.Within(extent.Buffer(half_pixel)), f"{name}: footprint outside the image's edges"
    mask = original.GetRasterBand(1).GetMaskBand().ReadAsArray()
    valid_share = float((mask > 0).mean())
    covered_share = footprint.GetArea() / extent.GetArea()
    assert covered_share == pytest.approx(valid_share, rel=0.15, abs=0.02), f"{name}: footprint != valid area"
    assert gdal.Open(str(files.thumbnail)).RasterXSize <= 256


# --- validation is real, and offline -----------------------------------------------------------


def test_validation_rejects_an_invalid_item(cog, no_network):
    item = item_of(cog, "shade.tif")
    item["assets"]["data"]["file:size"] = "large"
    with pytest.raises(pystac.STACValidationError, match="file"):
        validate(item)


def test_an_extension_without_a_local_schema_is_refused_not_downloaded(cog, no_network):
    item = item_of(cog, "shade.tif")
    item["stac_extensions"].append("https://stac-extensions.github.io/eo/v2.0.0/schema.json")
    with pytest.raises(GetSchemaError, match="not among the local schemas"):
        validate(item)
