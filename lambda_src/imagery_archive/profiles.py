"""Which encoding each kind of image gets: a pure function of the image's properties.

Nothing here opens a file, so every rule is testable from a few lines of data. The rules exist
because one codec does not fit all imagery: JPEG can't hold 16-bit or float data, smears a nodata
collar into valid-looking fringes, can't hold an alpha band, and would turn the class values of a
paletted image into new colours. Each rule says, in `Encoding.reason`, why it was chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from imagery_archive.errors import UnsupportedImageError


@dataclass(frozen=True)
class Codec:
    """A compression the user can ask for (`COMPRESSION`), and what it can hold."""

    name: str
    lossy: bool
    byte_band_counts: frozenset[int]
    """Band counts of 8-bit imagery it encodes; other imagery falls back to a lossless codec."""


CODECS: dict[str, Codec] = {
    "JPEG": Codec("JPEG", lossy=True, byte_band_counts=frozenset({1, 2, 3, 4})),
    "WEBP": Codec("WEBP", lossy=True, byte_band_counts=frozenset({3})),
    "DEFLATE": Codec("DEFLATE", lossy=False, byte_band_counts=frozenset(range(1, 65536))),
    "ZSTD": Codec("ZSTD", lossy=False, byte_band_counts=frozenset(range(1, 65536))),
}

INTEGER_TYPES = frozenset({"UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64", "Int8"})
LERC_UNSUPPORTED_TYPES = frozenset({"UInt64", "Int64"})
FLOAT_TYPES = frozenset({"Float32", "Float64"})
VALUE_RANGES: dict[str, tuple[float, float]] = {
    "Byte": (0, 255),
    "Int8": (-128, 127),
    "UInt16": (0, 65535),
    "Int16": (-32768, 32767),
    "UInt32": (0, 2**32 - 1),
    "Int32": (-(2**31), 2**31 - 1),
}


def codec_named(name: str) -> Codec:
    """The codec a user named, or a clear error listing the choices."""
    try:
        return CODECS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown compression {name!r}: choose one of {', '.join(CODECS)}") from None


@dataclass(frozen=True)
class CompressionProfile:
    """What the user asked for; `choose_encoding` adapts it to each image."""

    codec: str = "JPEG"
    """Codec for 8-bit imagery (JPEG, WEBP, or lossless DEFLATE/ZSTD)."""
    quality: int = 75
    """JPEG/WEBP quality, 1-100."""
    max_z_error: float = 0.0
    """Largest error allowed in 16-bit and float imagery, in the image's units; 0 keeps it lossless."""
    target_ssim: float | None = None
    """If set, the JPEG/WEBP quality is chosen per image as the lowest that reaches this SSIM."""


@dataclass(frozen=True)
class ImageProperties:
    """What the encoding depends on, as read from the source image."""

    width: int
    height: int
    data_type: str
    colour_interpretations: tuple[str, ...]
    nodata: float | None = None
    has_palette: bool = False
    has_dataset_mask: bool = False

    @property
    def band_count(self) -> int:
        return len(self.colour_interpretations)

    @property
    def alpha_band(self) -> int | None:
        """1-based index of the band declared as alpha; never guessed from the band count (RGBN)."""
        for index, interpretation in enumerate(self.colour_interpretations, start=1):
            if interpretation == "Alpha":
                return index
        return None

    @property
    def nodata_representable(self) -> bool:
        """A nodata value outside the data type's range (e.g. -10000 on 8-bit) marks no pixel."""
        if self.nodata is None:
            return False
        if math.isnan(self.nodata):
            return self.data_type in FLOAT_TYPES
        low, high = VALUE_RANGES.get(self.data_type, (float("-inf"), float("inf")))
        return low <= self.nodata <= high


@dataclass(frozen=True)
class Encoding:
    """How one image is written to a COG."""

    compression: str
    creation_options: tuple[str, ...]
    bands: tuple[int, ...]
    """Source bands written as image bands (an alpha band that becomes a mask is left out)."""
    mask_from: str | None
    """'nodata' or 'alpha' to build an exact 1-bit mask from it; None keeps the source's own mask."""
    keep_nodata: bool
    lossy: bool
    reason: str
    quality: int | None = None

    @property
    def label(self) -> str:
        """The codec and its quality as people read them: 'JPEG q75', 'LERC_ZSTD'."""
        return f"{self.compression} q{self.quality}" if self.quality else self.compression


def choose_encoding(image: ImageProperties, profile: CompressionProfile) -> Encoding:
    """The encoding for `image` under `profile`; raises `UnsupportedImageError` if there is none."""
    if image.band_count == 0:
        raise UnsupportedImageError("the image has no raster bands")
    if image.has_palette:
        return _lossless(image, "DEFLATE", "paletted: lossless, so class values and colour table stay exact")
    if image.data_type == "Byte":
        return _byte_encoding(image, profile)
    if image.data_type in INTEGER_TYPES | FLOAT_TYPES:
        return _deep_encoding(image, profile)
    # Overviews of complex (SAR I/Q) samples: the default CUBIC resampling refuses them.
    reason = f"{image.data_type} data: lossless ZSTD, no lossy codec holds it"
    return _lossless(image, "ZSTD", reason, ("RESAMPLING=NEAREST",))


def _byte_encoding(image: ImageProperties, profile: CompressionProfile) -> Encoding:
    codec = codec_named(profile.codec)
    if not codec.lossy:
        return _lossless(image, codec.name, f"8-bit, {codec.name} requested: lossless")
    alpha = image.alpha_band
    bands = tuple(b for b in range(1, image.band_count + 1) if b != alpha)
    if len(bands) not in codec.byte_band_counts:
        fallback = codec_named("JPEG")
        if codec.name != "JPEG" and len(bands) in fallback.byte_band_counts:
            return _byte_encoding(image, replace(profile, codec="JPEG"))
        return _lossless(image, "DEFLATE", f"8-bit with {len(bands)} bands: {codec.name} can't hold it")
    described = {1: "grayscale", 3: "RGB (YCbCr)" if codec.name == "JPEG" else "RGB"}.get(
        len(bands), f"{len(bands)} bands of data"
    )
    return _lossy(image, codec.name, bands, profile.quality, f"8-bit {described}: {codec.name}")


def _deep_encoding(image: ImageProperties, profile: CompressionProfile) -> Encoding:
    kind = "float" if image.data_type in FLOAT_TYPES else f"{image.data_type}"
    if image.data_type in LERC_UNSUPPORTED_TYPES:
        return _lossless(image, "ZSTD", f"{kind}: lossless ZSTD (LERC has no 64-bit integers)")
    nan_bands = image.band_count > 1 and image.nodata is not None and math.isnan(image.nodata)
    if profile.max_z_error > 0 and nan_bands:
        # GDAL 3.6 (Debian 12) writes pixel-interleaved multi-band NaN LERC tiles it can't read back; GDAL 3.10
        # reads them back, but warns that libtiff < 4.6.1 mishandles them. Needed while either can be in use.
        return _lossless(image, "ZSTD", f"{kind}, several bands with NaN nodata: lossless ZSTD (LERC can't)")
    if profile.max_z_error > 0:
        options = (f"MAX_Z_ERROR={profile.max_z_error:g}",)
        bands = tuple(b for b in range(1, image.band_count + 1) if b != image.alpha_band)
        reason = f"{kind}: LERC_ZSTD, error at most {profile.max_z_error:g}, data type kept"
        return _lossy(image, "LERC_ZSTD", bands, None, reason, options)
    if image.data_type in FLOAT_TYPES:
        return _lossless(image, "ZSTD", f"{kind}: lossless ZSTD with the floating-point predictor")
    return _lossless(image, "LERC_ZSTD", f"{kind}: lossless LERC_ZSTD, data type kept", ("MAX_Z_ERROR=0",))


def _lossy(
    image: ImageProperties,
    compression: str,
    bands: tuple[int, ...],
    quality: int | None,
    reason: str,
    options: tuple[str, ...] = (),
) -> Encoding:
    """Lossy codecs move pixel values, so nodata and alpha become an exact mask instead."""
    if image.alpha_band is not None:
        mask_from, reason = "alpha", f"{reason}; alpha band kept as a mask"
    elif image.nodata_representable:
        mask_from, reason = "nodata", f"{reason}; nodata kept as an exact mask"
    else:
        mask_from = None
    if quality is not None:
        options = (*options, f"QUALITY={quality}")
    return Encoding(compression, options, bands, mask_from, False, True, reason, quality)


def _lossless(image: ImageProperties, compression: str, reason: str, options: tuple[str, ...] = ()) -> Encoding:
    predictable = image.data_type in INTEGER_TYPES | FLOAT_TYPES | {"Byte"}
    if compression in {"DEFLATE", "ZSTD"} and predictable and not image.has_palette:
        options = (*options, "PREDICTOR=YES")
    bands = tuple(range(1, image.band_count + 1))
    return Encoding(compression, options, bands, None, image.nodata_representable, False, reason)
