"""Metadata domains the COG would otherwise lose: NITF's headers, TREs, graphics, and the like.

GDAL's copy to a COG writes the default metadata domain and the RPCs only. A NITF's `NITF_METADATA`
(its file and image headers, base64), `TRE` and `xml:TRE` (every tagged record extension, raw and
decoded), `CGM` and `xml:DES` would be dropped, and so would any other domain of any source. They
are set on a virtual copy of the source and written into the COG's GDAL_METADATA tag, in the same
domains, by GDAL's `COPY_SRC_MDD=YES` (GDAL >= 3.8; the function's image ships 3.10). GDAL 3.6's
COG driver writes no domain but the default one, from any source, and has no way to be told
otherwise: there (Debian 12 development machines) they are not kept. GDAL 3.10's translate also
drops them while it removes a nodata value (a lossy encoding's nodata becomes a mask): such an
image keeps its default domain only.

A value XML can't hold (TRE and CGM payloads are binary) would be silently stripped of its control
bytes: such a value is written as `base64:` and the base64 of the exact bytes GDAL reads from the
source, so nothing is altered, only encoded.
"""

from __future__ import annotations

import base64
import functools
import re
import uuid

from osgeo import gdal

gdal.UseExceptions()

CARRIED_BY_GDAL = frozenset({"", "IMAGE_STRUCTURE", "DERIVED_SUBDATASETS", "SUBDATASETS", "RPC", "GEOLOCATION"})
"""Domains the COG gets anyway (default, RPCs, georeferencing) or that describe the source file's own
layout and would be false in the COG (its compression, its sub-datasets)."""

BASE64_PREFIX = "base64:"
"""Marks a value written as the base64 of the source's bytes, because XML can't hold them."""

_XML_UNSAFE = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Domains = dict[str, list[str]]
"""Domain name -> its items as GDAL lists them ('KEY=value', or one XML document for an `xml:` domain)."""


def domains_to_carry(dataset: gdal.Dataset) -> Domains:
    """Every metadata domain of `dataset` the COG would lose, with values XML can hold."""
    carried: Domains = {}
    for domain in dataset.GetMetadataDomainList() or []:
        if domain in CARRIED_BY_GDAL:
            continue
        items = dataset.GetMetadata_List(domain) or []
        if items:
            carried[domain] = items if domain.startswith("xml:") else [_xml_safe(item) for item in items]
    return carried


def _xml_safe(item: str | bytes) -> str:
    """'KEY=value' as is, or 'KEY=base64:...' when the value holds bytes XML can't."""
    raw = item if isinstance(item, bytes) else item.encode("utf-8", "surrogateescape")
    key, _, value = raw.partition(b"=")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _XML_UNSAFE.search(text):
        return f"{key.decode('utf-8', 'replace')}={text}"
    return f"{key.decode('utf-8', 'replace')}={BASE64_PREFIX}{base64.b64encode(value).decode()}"


def source_with_domains(source: gdal.Dataset, domains: Domains) -> tuple[gdal.Dataset, tuple[str, ...]]:
    """(`source` as the COG driver must get it to write `domains` too, the creation options it needs)."""
    if not domains or not cog_copies_metadata_domains():
        return source, ()
    virtual = gdal.Translate("", source, format="VRT")
    for domain, items in domains.items():
        virtual.SetMetadata(items, domain)
    return virtual, ("COPY_SRC_MDD=YES",)


@functools.cache
def cog_copies_metadata_domains() -> bool:
    """Whether this GDAL's COG driver writes a source's metadata domains when asked (GDAL >= 3.8)."""
    probe = gdal.GetDriverByName("MEM").Create("", 1, 1)
    probe.SetMetadataItem("PROBE", "1", "IMAGERY_ARCHIVE_PROBE")
    path = f"/vsimem/probe-{uuid.uuid4().hex}.tif"
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # older GDAL warns of an unknown creation option
    try:
        gdal.Translate(path, probe, format="COG", creationOptions=["COPY_SRC_MDD=YES"])
        written = gdal.Open(path)
        return written.GetMetadataItem("PROBE", "IMAGERY_ARCHIVE_PROBE") == "1"
    finally:
        gdal.PopErrorHandler()
        gdal.Unlink(path)
