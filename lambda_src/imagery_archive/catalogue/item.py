"""The STAC Item of one compressed scene, built with pystac from the COG file and the job's facts.

Geometry, time, projection and bands come from the COG itself (GDAL); provenance, archive and
compression from `SceneFacts`. No S3 here: the job uploads the files this writes. Fields that no
STAC extension defines carry the prefix `imagery_archive:` (see docs/catalogue.md):

- properties: `datetime_source` (the metadata item the time came from, or 'upload time'),
  `geometry_method` and `geometry_traced` (how the footprint was found, or why there is none),
  `encoding`, `encoding_reason`, `ssim`, `compression_ratio`;
- the `original` asset: `storage_class`, `restore_required` (GLACIER and DEEP_ARCHIVE objects
  must be restored before they can be read) and `uploaded_from`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pystac
from osgeo import gdal
from pystac.extensions.file import FileExtension
from pystac.extensions.processing import ProcessingExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, NoDataStrings, RasterBand, RasterExtension

from imagery_archive import __version__
from imagery_archive.catalogue.acquisition_time import acquisition_time
from imagery_archive.catalogue.footprint import Footprint, image_footprint
from imagery_archive.catalogue.scene_facts import FIELD_PREFIX, CatalogLinks, SceneFacts, SceneFiles
from imagery_archive.catalogue.thumbnail import write_thumbnail
from imagery_archive.settings import SERVICE_NAME

gdal.UseExceptions()

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
ORIGINAL_MEDIA_TYPES = {
    ".tif": "image/tiff; application=geotiff",
    ".tiff": "image/tiff; application=geotiff",
    ".ntf": "application/vnd.nitf",
    ".nitf": "application/vnd.nitf",
    ".jp2": "image/jp2",
}
UPLOAD_TIME = "upload time"


def describe_scene(cog: Path, facts: SceneFacts, out_dir: Path) -> SceneFiles:
    """Write the scene's thumbnail and Item into `out_dir`; the Item's asset hrefs are relative to it."""
    files = SceneFiles(out_dir / "item.json", out_dir / "thumbnail.png")
    write_thumbnail(cog, files.thumbnail)
    item = build_item(cog, facts)
    files.item.write_text(json.dumps(item.to_dict(include_self_link=True, transform_hrefs=False)))
    return files


def build_item(cog: Path, facts: SceneFacts, created: datetime | None = None) -> pystac.Item:
    """The Item of the COG at `cog` (published at `facts.output`), with its three assets."""
    dataset = gdal.Open(str(cog))
    footprint = image_footprint(dataset)
    acquired = acquisition_time(dataset)
    when, when_source = (acquired.when, acquired.source) if acquired else (_upload_time(facts), UPLOAD_TIME)
    created = created or datetime.now(UTC)
    item = pystac.Item(
        id=facts.item_id,
        geometry=footprint.geometry,
        bbox=footprint.bbox,
        datetime=when,
        properties=_own_fields(
            datetime_source=when_source,
            geometry_method=footprint.method,
            geometry_traced=footprint.traced,
            encoding=facts.encoding,
            encoding_reason=facts.encoding_reason,
            ssim=round(facts.ssim, 4),
            compression_ratio=round(facts.compression_ratio, 2),
        ),
    )
    item.common_metadata.created = created
    _add_projection(item, dataset, footprint)
    _add_processing(item, facts, created)
    _add_data_asset(item, cog, dataset, footprint, facts)
    _add_original_asset(item, facts)
    item.add_asset("thumbnail", _thumbnail_asset(facts))
    if facts.links is not None:
        _add_links(item, facts.links)
    return item


def _add_links(item: pystac.Item, links: CatalogLinks) -> None:
    """The Item's Collection (`collection` field and link), and its self, parent and root links.

    Absolute s3:// hrefs: the Item is read from S3, by a loader or a client, never moved; its assets stay
    relative to its own folder (`./scene.tif`), which its self link names.
    """
    item.collection_id = links.collection_id
    json_type = pystac.MediaType.JSON
    item.add_link(pystac.Link(pystac.RelType.SELF, str(links.item), pystac.MediaType.GEOJSON))
    item.add_link(pystac.Link(pystac.RelType.COLLECTION, str(links.collection), json_type, links.collection_id))
    item.add_link(pystac.Link(pystac.RelType.PARENT, str(links.collection), json_type, links.collection_id))
    item.add_link(pystac.Link(pystac.RelType.ROOT, str(links.root), json_type))


def _own_fields(**fields: Any) -> dict[str, Any]:
    return {f"{FIELD_PREFIX}{name}": value for name, value in fields.items()}


def _upload_time(facts: SceneFacts) -> datetime:
    return facts.uploaded_at or datetime.now(UTC)


def _add_projection(item: pystac.Item, dataset: gdal.Dataset, footprint: Footprint) -> None:
    """proj:code (or proj:wkt2 without an authority code), shape, and, if georeferenced by it, transform."""
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.shape = [dataset.RasterYSize, dataset.RasterXSize]
    srs = dataset.GetSpatialRef()
    if footprint.method != "geotransform" or srs is None:
        projection.code = None  # RPCs, GCPs or nothing: no map projection applies to the pixels
        return
    authority, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
    projection.code = f"{authority}:{code}" if authority and code else None
    if projection.code is None:
        projection.wkt2 = srs.ExportToWkt(["FORMAT=WKT2_2019"])
    a, b, c, d, e, f = dataset.GetGeoTransform()
    projection.transform = [b, c, a, e, f, d]
    xs = [a + b * col + c * row for col, row in _corners(dataset)]
    ys = [d + e * col + f * row for col, row in _corners(dataset)]
    projection.bbox = [min(xs), min(ys), max(xs), max(ys)]


def _corners(dataset: gdal.Dataset) -> list[tuple[int, int]]:
    width, height = dataset.RasterXSize, dataset.RasterYSize
    return [(0, 0), (width, 0), (width, height), (0, height)]


def _add_processing(item: pystac.Item, facts: SceneFacts, created: datetime) -> None:
    processing = ProcessingExtension.ext(item, add_if_missing=True)
    processing.software = {SERVICE_NAME: __version__, "GDAL": gdal.__version__, "pystac": pystac.__version__}
    processing.processing_datetime = created
    processing.lineage = (
        f"Compressed to a Cloud Optimized GeoTIFF with {facts.encoding} ({facts.encoding_reason}) "
        f"from {facts.uploaded_from}, whose untouched original is the 'original' asset"
    )


def _add_data_asset(
    item: pystac.Item, cog: Path, dataset: gdal.Dataset, footprint: Footprint, facts: SceneFacts
) -> None:
    """The COG: size, checksum and, per band, data type, nodata, scale/offset, unit and resolution."""
    asset = pystac.Asset(
        href=f"./{PurePosixPath(facts.output.key).name}",
        media_type=COG_MEDIA_TYPE,
        roles=["data"],
        title=f"Cloud Optimized GeoTIFF ({facts.encoding})",
    )
    item.add_asset("data", asset)
    file = FileExtension.ext(asset, add_if_missing=True)
    file.size = cog.stat().st_size
    with cog.open("rb") as stream:
        file.checksum = _multihash(hashlib.file_digest(stream, "sha256").digest())
    resolution = abs(dataset.GetGeoTransform()[1]) if footprint.method == "geotransform" else None
    bands = [dataset.GetRasterBand(number) for number in range(1, dataset.RasterCount + 1)]
    RasterExtension.ext(asset, add_if_missing=True).bands = [_raster_band(band, resolution) for band in bands]


def _raster_band(band: gdal.Band, resolution: float | None) -> RasterBand:
    nodata = band.GetNoDataValue()
    scale, offset = band.GetScale(), band.GetOffset()
    return RasterBand.create(
        nodata=_nodata(nodata) if nodata is not None else None,
        data_type=DataType(gdal.GetDataTypeName(band.DataType).lower().replace("byte", "uint8")),
        spatial_resolution=resolution,
        unit=band.GetUnitType() or None,
        scale=scale if scale not in (None, 1.0) else None,
        offset=offset if offset not in (None, 0.0) else None,
    )


def _nodata(value: float) -> float | NoDataStrings:
    if math.isnan(value):
        return NoDataStrings.NAN
    if math.isinf(value):
        return NoDataStrings.INF if value > 0 else NoDataStrings.NINF
    return value


def _add_original_asset(item: pystac.Item, facts: SceneFacts) -> None:
    """The archived original: where, how big, its SHA-256, its class, and whether it must be restored first."""
    suffix = PurePosixPath(facts.archive.key).suffix.lower()
    asset = pystac.Asset(
        href=str(facts.archive),
        media_type=ORIGINAL_MEDIA_TYPES.get(suffix),
        roles=["source"],
        title=f"Original, archived in {facts.storage_class}"
        + (" (restore it before reading)" if facts.needs_restore else ""),
        extra_fields=_own_fields(
            storage_class=facts.storage_class,
            restore_required=facts.needs_restore,
            uploaded_from=str(facts.uploaded_from),
            **({"s3_checksum": facts.original_checksum} if facts.original_checksum else {}),
        ),
    )
    item.add_asset("original", asset)
    file = FileExtension.ext(asset, add_if_missing=True)
    file.size = facts.original_bytes
    if facts.original_sha256:  # a streamed original has S3's checksum instead (s3_checksum above)
        file.checksum = _multihash(base64.b64decode(facts.original_sha256))


def _thumbnail_asset(facts: SceneFacts) -> pystac.Asset:
    name = PurePosixPath(facts.output.key).with_suffix(".png").name
    return pystac.Asset(href=f"./{name}", media_type=pystac.MediaType.PNG, roles=["thumbnail"], title="Thumbnail")


def _multihash(sha256_digest: bytes) -> str:
    """A SHA-256 digest as the file extension's multihash: 0x12 (sha2-256), 0x20 (32 bytes), digest."""
    return f"1220{sha256_digest.hex()}"
