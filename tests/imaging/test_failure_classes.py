"""Whose fault is a failure? Bad input is tagged; the machine's state is retried; our own bad output is
reported at once. And GDAL's error handling is left as it was found.
"""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from osgeo import gdal

from imagery_archive.errors import PermanentError, ResourceExhaustedError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.function import LambdaContext
from tests.support.function import cold_start
from tests.support.paths import SAMPLES

# GDAL itself reports the failed allocation, from inside its own block pipeline, as its allocators do
# (CPLE_OutOfMemory, "Out of memory allocating ..."): a VRT pixel function over a real image, run by
# GDAL for every block it reads. Blocks past row 512 fail, so the COG is half written when it happens.
OUT_OF_MEMORY_VRT = """<VRTDataset rasterXSize="791" rasterYSize="718">
  <VRTRasterBand dataType="Byte" band="1" subClass="VRTDerivedRasterBand">
    <PixelFunctionType>out_of_memory</PixelFunctionType>
    <PixelFunctionLanguage>Python</PixelFunctionLanguage>
    <PixelFunctionCode><![CDATA[
from osgeo import gdal
def out_of_memory(in_ar, out_ar, xoff, yoff, xsize, ysize, raster_xsize, raster_ysize, buf_radius, gt, **kw):
    if yoff >= 512:
        gdal.Error(gdal.CE_Failure, gdal.CPLE_OutOfMemory, "Out of memory allocating 1048576 bytes")
        raise MemoryError("out of memory")
    out_ar[:] = in_ar[0]
]]></PixelFunctionCode>
    <SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename><SourceBand>1</SourceBand></SimpleSource>
  </VRTRasterBand>
</VRTDataset>
"""


@pytest.fixture
def python_pixel_functions():
    previous = gdal.GetConfigOption("GDAL_VRT_ENABLE_PYTHON")
    gdal.SetConfigOption("GDAL_VRT_ENABLE_PYTHON", "YES")
    yield
    gdal.SetConfigOption("GDAL_VRT_ENABLE_PYTHON", previous)


def test_gdal_running_out_of_memory_is_transient_not_bad_input(tmp_path, production_gdal, python_pixel_functions):
    source = tmp_path / "scene.vrt"
    source.write_text(OUT_OF_MEMORY_VRT.format(source=SAMPLES / "RGB.byte.tif"))
    with pytest.raises(ResourceExhaustedError, match="Out of memory") as raised:
        compress(source, tmp_path / "scene.tif", CompressionProfile())
    assert not isinstance(raised.value, PermanentError), "a retry can succeed: the original must not be tagged bad"
    assert not (tmp_path / "scene.tif").exists()


def test_an_applications_own_gdal_error_handler_is_still_installed_after_compress(tmp_path, production_gdal):
    heard: list[str] = []
    gdal.SetErrorHandler(lambda _level, _code, message: heard.append(message))
    try:
        compress(SAMPLES / "shade.tif", tmp_path / "shade.tif", CompressionProfile())
        # Reported from another thread, as GDAL's workers report: only the global handler hears it.
        worker = threading.Thread(target=gdal.Error, args=(gdal.CE_Warning, 1, "after compress"))
        worker.start()
        worker.join()
    finally:
        gdal.SetErrorHandler("CPLDefaultErrorHandler")
    assert heard == ["after compress"], "compress must put back the handler it found, not GDAL's default"


@pytest.fixture
def failure_queue(s3_endpoint):
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint)
    url = sqs.create_queue(QueueName="imagery-failures")["QueueUrl"]
    return sqs, url


def test_an_invalid_cog_goes_to_the_failure_queue_at_once_and_the_original_stays_untagged(
    buckets, failure_queue, monkeypatch, tmp_path
):
    sqs, url = failure_queue
    function = cold_start(monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(tmp_path), FAILURE_QUEUE_URL=url)
    body = (SAMPLES / "RGB.byte.tif").read_bytes()
    buckets.client.put_object(Bucket=buckets.input, Key="d/scene.tif", Body=body)
    event = event_for_objects(buckets.client, buckets.input, ["d/scene.tif"])

    def validator_rejects(path):  # GDAL's COG validator finding a fault in what we wrote
        from imagery_archive.imaging.compress import InvalidCogError  # noqa: PLC0415

        raise InvalidCogError(f"{path.name} is not a valid COG: The offset of the first block is invalid")

    monkeypatch.setattr("imagery_archive.imaging.compress.validate_cog", validator_rejects)
    response = function.handler(event, LambdaContext())  # does not raise: Lambda must not retry it

    assert response["results"][0]["outcome"] == "sent to failure queue"
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    message = json.loads(messages[0]["Body"])
    assert message["object"] == f"s3://{buckets.input}/d/scene.tif"
    assert "not a valid COG" in message["reason"]
    assert message["requestPayload"] == event, "the event can be replayed as it came"
    original = buckets.client.get_object(Bucket=buckets.input, Key="d/scene.tif")["Body"].read()
    assert original == body, "the original stays"
    tags = buckets.client.get_object_tagging(Bucket=buckets.input, Key="d/scene.tif")["TagSet"]
    assert tags == [], "it is not the input's fault: not tagged failed"
    assert not buckets.keys(buckets.output, "output/"), "no COG is published"
