"""A file holding several images is never compressed as its first image alone: it stays in place, tagged why."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import sample_path
from osgeo import gdal

from imagery_archive.errors import PermanentError, SeveralImagesError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.function import LambdaContext
from tests.support.function import cold_start, outcomes

pytestmark = pytest.mark.usefixtures("production_gdal")


@pytest.fixture(scope="module")
def two_page_geotiff(tmp_path_factory) -> Path:
    """RGB.byte.tif, then the NAIP scene as a second page (GDAL's APPEND_SUBDATASET)."""
    path = tmp_path_factory.mktemp("pages") / "two_pages.tif"
    gdal.Translate(str(path), str(sample_path("RGB.byte.tif")))
    gdal.Translate(str(path), str(sample_path("naip_rgbn_5m.tif")), creationOptions=["APPEND_SUBDATASET=YES"])
    return path


@pytest.fixture(scope="module")
def two_image_nitf(tmp_path_factory) -> Path:
    """The JITC aerial NITF with a second image segment: its south-east quarter (NUMI=2, APPEND_SUBDATASET)."""
    path = tmp_path_factory.mktemp("segments") / "two_images.ntf"
    aerial = str(sample_path("nitf_jitc_U_1001A_aerial_8bit.ntf"))
    gdal.Translate(str(path), aerial, format="NITF", creationOptions=["NUMI=2"])
    quarter = gdal.Translate("", aerial, format="MEM", srcWin=[512, 512, 512, 512])
    gdal.Translate(str(path), quarter, format="NITF", creationOptions=["APPEND_SUBDATASET=YES", "IDLVL=2"])
    return path


@pytest.mark.parametrize(
    ("fixture", "images"),
    [
        ("two_page_geotiff", ["Page 1 (791P x 718L x 3B)", "Page 2 (934P x 723L x 4B)"]),
        ("two_image_nitf", ["Image 1", "Image 2"]),
    ],
    ids=["tiff-pages", "nitf-segments"],
)
def test_a_file_with_two_images_is_refused_naming_them(request, tmp_path, fixture, images):
    source = request.getfixturevalue(fixture)
    assert gdal.Open(str(source)).RasterCount > 0, "GDAL opens the first image as if it were the only one"
    output = tmp_path / "out.tif"
    with pytest.raises(SeveralImagesError, match="it holds 2 images") as refused:
        compress(source, output, CompressionProfile())
    assert isinstance(refused.value, PermanentError), "bad input for this pipeline: tagged, never retried"
    assert all(image in str(refused.value) for image in images), str(refused.value)
    assert list(tmp_path.iterdir()) == [], "no COG of the first image alone, not even a partial one"


def test_single_image_files_are_not_refused(cog):
    for name in ("RGB.byte.tif", "nitf_spot_cib_palette.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf"):
        assert cog(name).output.is_file()


def test_the_handler_leaves_a_two_image_nitf_in_place_tagged_with_the_reason(
    buckets, monkeypatch, tmp_path, two_image_nitf
):
    handler = cold_start(monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(tmp_path))
    buckets.client.put_object(Bucket=buckets.input, Key="d/pair.ntf", Body=two_image_nitf.read_bytes())
    response = handler.handler(event_for_objects(buckets.client, buckets.input, ["d/pair.ntf"]), LambdaContext())
    assert outcomes(response) == {f"s3://{buckets.input}/d/pair.ntf": "failed"}
    assert buckets.keys(buckets.input) == ["d/pair.ntf"], "the original stays where it was uploaded"
    assert buckets.keys(buckets.output) == [], "no COG of its first image, no archive copy"
    tags = {
        t["Key"]: t["Value"]
        for t in buckets.client.get_object_tagging(Bucket=buckets.input, Key="d/pair.ntf")["TagSet"]
    }
    assert tags["imagery-archive:status"] == "failed"
    assert "holds 2 images" in tags["imagery-archive:reason"]
