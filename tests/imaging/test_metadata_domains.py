"""A NITF's own metadata survives into its COG: headers, every TRE (raw and decoded), graphics segments."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from conftest import sample_path
from osgeo import gdal

from imagery_archive.imaging.metadata_domains import BASE64_PREFIX, CARRIED_BY_GDAL, cog_copies_metadata_domains

pytestmark = [
    pytest.mark.usefixtures("production_gdal"),
    pytest.mark.skipif(
        not cog_copies_metadata_domains(),
        reason=f"GDAL {gdal.__version__}'s COG driver writes no metadata domain but the default one (GDAL >= 3.8 "
        "does, with COPY_SRC_MDD; the function's image ships GDAL 3.10)",
    ),
]


def domain_items(path: Path, domain: str) -> dict[bytes, bytes]:
    """key -> exact value bytes of one domain (base64-written values decoded)."""
    dataset = gdal.Open(str(path))
    items = {}
    for item in dataset.GetMetadata_List(domain) or []:
        raw = item if isinstance(item, bytes) else item.encode("utf-8", "surrogateescape")
        key, _, value = raw.partition(b"=")
        if domain.startswith("xml:"):
            key, value = b"", raw
        elif value.startswith(BASE64_PREFIX.encode()):
            value = base64.b64decode(value[len(BASE64_PREFIX) :])
        items[key] = value
    return items


def own_domains(path: Path) -> set[str]:
    dataset = gdal.Open(str(path))
    return set(dataset.GetMetadataDomainList() or []) - CARRIED_BY_GDAL


@pytest.fixture(
    params=["nitf_spot_cib_palette.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf", "worldview_nitf"],
    ids=["cib-palette", "jitc-aerial", "worldview-rpc00b"],
)
def nitf(request) -> Path:
    name = request.param
    return request.getfixturevalue(name) if name == "worldview_nitf" else sample_path(name)


def test_every_nitf_metadata_domain_is_kept_item_for_item(cog, nitf):
    output = cog(nitf).output
    expected = own_domains(nitf)
    assert {"NITF_METADATA", "CGM"} <= expected, "the samples no longer have the domains this test is about"
    assert expected <= own_domains(output), f"domains dropped: {sorted(expected - own_domains(output))}"
    for domain in expected:
        assert domain_items(output, domain) == domain_items(nitf, domain), f"{domain} changed on its way to the COG"


def test_every_tre_of_the_source_is_in_the_cog(cog, worldview_nitf):
    source_tres = domain_items(sample_path("nitf_spot_cib_palette.ntf"), "TRE")
    assert set(source_tres) == {b"RPFDES", b"RPFHDR", b"RPFIMG"}
    assert domain_items(cog("nitf_spot_cib_palette.ntf").output, "TRE") == source_tres
    decoded = gdal.Open(str(cog(worldview_nitf).output)).GetMetadata_List("xml:TRE")
    assert decoded is not None, "the decoded TREs (xml:TRE) were dropped"
    assert '<tre name="RPC00B"' in decoded[0]


def test_the_cog_stays_a_valid_cog_with_the_metadata(cog):
    from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate  # noqa: PLC0415

    _warnings, errors, _ = validate(str(cog("nitf_spot_cib_palette.ntf").output), full_check=True)
    assert errors == []
