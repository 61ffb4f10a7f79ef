"""Which encoding each kind of image gets: a pure function of the image's properties.

Nothing here opens a file, so every rule is testable from a few lines of data. The rules exist
because one codec does not fit all imagery: JPEG can't hold 16-bit or float data, smears a nodata
collar into valid-looking fringes, can't hold an alpha band, and would turn the class values of a
paletted image into new colours.

Every way an image can be written is declared once, by name, in `ENCODING_PROFILES` (as rio-cogeo
declares its profiles); `choose_encoding` only picks one for the image and fills it in. Each
profile says, in its `reason`, why it is chosen: the reason travels with the COG as metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from imagery_archive.errors import UnsupportedImageError


@dataclass(frozen=True, kw_only=True)
class Codec:
    """A compression the user can ask for (`COMPRESSION`), and what it can hold."""

    name: str
    lossy: bool
    byte_band_counts: frozenset[int]
    """Band counts of 8-bit imagery it encodes; other imagery falls back to a lossless codec."""


CODECS: dict[str, Codec] = {
    "JPEG": Codec(name="JPEG", lossy=True, byte_band_counts=frozenset({1, 2, 3, 4})),
    "WEBP": Codec(name="WEBP", lossy=True, byte_band_counts=frozenset({3})),
    "DEFLATE": Codec(name="DEFLATE", lossy=False, byte_band_counts=frozenset(range(1, 65536))),
    "ZSTD": Codec(name="ZSTD", lossy=False, byte_band_counts=frozenset(range(1, 65536))),
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
    lossless: bool = False
    """Every image written losslessly, whatever `codec` and `max_z_error` say: set per object by the
    `imagery-archive:encoding=lossless` tag or a `LOSSLESS_PREFIXES` prefix."""


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
    categorical: str | None = None
    """Why the image is a class map (`categories.category_evidence`), or None for imagery."""

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
    def data_bands(self) -> tuple[int, ...]:
        """1-based indexes of every band but the alpha band."""
        return tuple(band for band in range(1, self.band_count + 1) if band != self.alpha_band)

    @property
    def nodata_representable(self) -> bool:
        """A nodata value outside the data type's range (e.g. -10000 on 8-bit) marks no pixel."""
        if self.nodata is None:
            return False
        if math.isnan(self.nodata):
            return self.data_type in FLOAT_TYPES
        low, high = VALUE_RANGES.get(self.data_type, (float("-inf"), float("inf")))
        return low <= self.nodata <= high


class MaskSource(Enum):
    """Where the COG's mask comes from."""

    SOURCE = "source"
    """The source's own mask, copied as GDAL finds it (none if the source has none)."""
    NODATA = "nodata"
    """An exact 1-bit mask built from the nodata value, which a lossy codec can't keep exact."""
    ALPHA = "alpha"
    """An exact 1-bit mask built from the alpha band, which is then not written as a band."""


_MASK_NOTES = {
    MaskSource.SOURCE: "",
    MaskSource.ALPHA: "; alpha band kept as a mask",
    MaskSource.NODATA: "; nodata kept as an exact mask",
}


@dataclass(frozen=True, kw_only=True)
class Encoding:
    """How one image is written to a COG."""

    compression: str
    creation_options: tuple[str, ...]
    bands: tuple[int, ...]
    """Source bands written as image bands (an alpha band that becomes a mask is left out)."""
    mask_from: MaskSource
    keep_nodata: bool
    lossy: bool
    reason: str
    quality: int | None = None
    resampling: str = "AVERAGE"
    """How overviews are made: AVERAGE for imagery, NEAREST where every value must be a real sample."""

    @property
    def label(self) -> str:
        """The codec and its quality as people read them: 'JPEG q75', 'LERC_ZSTD'."""
        return f"{self.compression} q{self.quality}" if self.quality else self.compression


@dataclass(frozen=True, kw_only=True)
class EncodingProfile:
    """One named way to write a kind of image; `choose_encoding` fills it in for one image.

    `compression`, `options` and `reason` are templates, filled with `{codec}` (the 8-bit codec
    asked for), `{kind}` (the data type, or 'float'), `{data_bands}` (how many bands are not alpha)
    and `{max_z_error}`. A lossy profile writes the data bands only and turns alpha or nodata into
    an exact mask (a lossy codec moves pixel values, so neither would stay exact); a lossless one
    writes every band and keeps the nodata value.
    """

    name: str
    compression: str
    lossy: bool
    reason: str
    options: tuple[str, ...] = ()
    takes_quality: bool = False
    """Whether the user's JPEG/WEBP quality (`QUALITY=`) applies."""
    resampling: str = "AVERAGE"
    """Overview resampling. NEAREST for class values (palette indices, categories) and complex samples:
    an average of classes 3 and 7 is class 5, a class the pixels never had."""

    def encoding(self, image: ImageProperties, request: CompressionProfile, codec: str) -> Encoding:
        """This profile filled in for `image` under `request`, `codec` naming the 8-bit codec."""
        kind = "float" if image.data_type in FLOAT_TYPES else image.data_type
        facts = {
            "codec": codec,
            "kind": kind,
            "data_bands": len(image.data_bands),
            "max_z_error": request.max_z_error,
            "categorical": image.categorical or "",
        }
        compression, reason = self.compression.format(**facts), self.reason.format(**facts)
        options = tuple(option.format(**facts) for option in self.options)
        if not self.lossy:
            bands = tuple(range(1, image.band_count + 1))
            return Encoding(
                compression=compression,
                creation_options=options,
                bands=bands,
                mask_from=MaskSource.SOURCE,
                keep_nodata=image.nodata_representable,
                lossy=False,
                reason=reason,
                resampling=self.resampling,
            )
        quality = request.quality if self.takes_quality else None
        mask_from = _lossy_mask_source(image)
        return Encoding(
            compression=compression,
            creation_options=options if quality is None else (*options, f"QUALITY={quality}"),
            bands=image.data_bands,
            mask_from=mask_from,
            keep_nodata=False,
            lossy=True,
            reason=reason + _MASK_NOTES[mask_from],
            quality=quality,
            resampling=self.resampling,
        )


def _lossy_mask_source(image: ImageProperties) -> MaskSource:
    """Alpha wins over nodata; a nodata value no pixel can hold marks nothing."""
    if image.alpha_band is not None:
        return MaskSource.ALPHA
    if image.nodata_representable:
        return MaskSource.NODATA
    return MaskSource.SOURCE


_PROFILES = (
    # 8-bit imagery, lossy: the codec the user asked for, at their quality.
    EncodingProfile(
        name="8-bit RGB as YCbCr JPEG",
        compression="JPEG",
        lossy=True,
        takes_quality=True,
        reason="8-bit RGB (YCbCr): JPEG",  # the COG driver picks YCbCr for 3-band JPEG by itself
    ),
    EncodingProfile(
        name="8-bit RGB", compression="{codec}", lossy=True, takes_quality=True, reason="8-bit RGB: {codec}"
    ),
    EncodingProfile(
        name="8-bit grayscale", compression="{codec}", lossy=True, takes_quality=True, reason="8-bit grayscale: {codec}"
    ),
    EncodingProfile(
        name="8-bit multi-band",  # e.g. RGBN (NAIP): the 4th band is data, never taken for alpha
        compression="{codec}",
        lossy=True,
        takes_quality=True,
        reason="8-bit {data_bands} bands of data: {codec}",
    ),
    # 8-bit imagery, lossless.
    EncodingProfile(
        name="8-bit lossless",
        compression="{codec}",
        lossy=False,
        options=("PREDICTOR=YES",),
        reason="8-bit, {codec} requested: lossless",
    ),
    EncodingProfile(
        name="8-bit beyond the codec",
        compression="DEFLATE",
        lossy=False,
        options=("PREDICTOR=YES",),
        reason="8-bit with {data_bands} bands: {codec} can't hold it",
    ),
    EncodingProfile(
        name="paletted",  # no predictor: differences of class indices mean nothing
        compression="DEFLATE",
        lossy=False,
        resampling="NEAREST",
        reason="paletted: lossless, so class values and colour table stay exact",
    ),
    EncodingProfile(
        name="categorical",  # see `categories`; no predictor: differences of class labels mean nothing
        compression="DEFLATE",
        lossy=False,
        resampling="NEAREST",
        reason="class map ({categorical}): lossless, so class values stay exact, in every overview too",
    ),
    EncodingProfile(
        name="8-bit lossless requested",
        compression="DEFLATE",
        lossy=False,
        options=("PREDICTOR=YES",),
        reason="8-bit, lossless requested for this object: DEFLATE",
    ),
    # 16-bit, 32-bit and float imagery.
    EncodingProfile(
        name="integer lossless",
        compression="LERC_ZSTD",
        lossy=False,
        options=("MAX_Z_ERROR=0",),
        reason="{kind}: lossless LERC_ZSTD, data type kept",
    ),
    EncodingProfile(
        name="float lossless",
        compression="ZSTD",
        lossy=False,
        options=("PREDICTOR=YES",),
        reason="{kind}: lossless ZSTD with the floating-point predictor",
    ),
    EncodingProfile(
        name="bounded error",
        compression="LERC_ZSTD",
        lossy=True,
        options=("MAX_Z_ERROR={max_z_error:g}",),
        reason="{kind}: LERC_ZSTD, error at most {max_z_error:g}, data type kept",
    ),
    EncodingProfile(
        # GDAL 3.6 (Debian 12) writes pixel-interleaved multi-band NaN LERC tiles it can't read back; GDAL 3.10
        # reads them back, but warns that libtiff < 4.6.1 mishandles them. Needed while either can be in use.
        name="bounded error refused: NaN in several bands",
        compression="ZSTD",
        lossy=False,
        options=("PREDICTOR=YES",),
        reason="{kind}, several bands with NaN nodata: lossless ZSTD (LERC can't)",
    ),
    EncodingProfile(
        name="64-bit integer",
        compression="ZSTD",
        lossy=False,
        options=("PREDICTOR=YES",),
        reason="{kind}: lossless ZSTD (LERC has no 64-bit integers)",
    ),
    EncodingProfile(
        # Overviews by NEAREST keep real I/Q samples: AVERAGE would blend the phases of neighbouring samples
        # (GDAL 3.6 allows only NEAREST, AVERAGE, AVERAGE_MAGPHASE and RMS on complex data; the COG driver's
        # default, CUBIC, refuses it). No predictor: GDAL refuses PREDICTOR=YES on complex floating-point samples.
        name="complex",
        compression="ZSTD",
        lossy=False,
        resampling="NEAREST",
        reason="{kind} data: lossless ZSTD, no lossy codec holds it",
    ),
)

ENCODING_PROFILES: dict[str, EncodingProfile] = {profile.name: profile for profile in _PROFILES}
"""Every way an image can be written, by name."""


def encoding_profile(name: str) -> EncodingProfile:
    """The profile registered as `name`, or a clear error listing the names."""
    try:
        return ENCODING_PROFILES[name]
    except KeyError:
        raise ValueError(f"no encoding profile {name!r}: the profiles are {', '.join(ENCODING_PROFILES)}") from None


def choose_encoding(image: ImageProperties, profile: CompressionProfile) -> Encoding:
    """The encoding for `image` under `profile`; raises `UnsupportedImageError` if there is none."""
    chosen, codec = choose_profile(image, profile)
    return chosen.encoding(image, profile, codec)


def choose_profile(image: ImageProperties, profile: CompressionProfile) -> tuple[EncodingProfile, str]:
    """The registered profile for `image` under `profile`, and the 8-bit codec its templates name."""
    if image.band_count == 0:
        raise UnsupportedImageError("the image has no raster bands")
    if image.has_palette:
        return encoding_profile("paletted"), ""
    if image.categorical is not None and image.data_type in INTEGER_TYPES | {"Byte"}:
        return encoding_profile("categorical"), ""
    if image.data_type == "Byte":
        if profile.lossless:
            return encoding_profile("8-bit lossless requested"), ""
        return _byte_profile(image, codec_named(profile.codec))
    if image.data_type in INTEGER_TYPES | FLOAT_TYPES:
        return _deep_profile(image, 0.0 if profile.lossless else profile.max_z_error), ""
    return encoding_profile("complex"), ""


def _byte_profile(image: ImageProperties, codec: Codec) -> tuple[EncodingProfile, str]:
    """8-bit imagery: the codec asked for if it holds the bands, else JPEG, else lossless DEFLATE."""
    if not codec.lossy:
        return encoding_profile("8-bit lossless"), codec.name
    count = len(image.data_bands)
    if count not in codec.byte_band_counts:
        if count in CODECS["JPEG"].byte_band_counts:
            return _byte_profile(image, CODECS["JPEG"])
        return encoding_profile("8-bit beyond the codec"), codec.name
    if count == 3:
        return encoding_profile("8-bit RGB as YCbCr JPEG" if codec.name == "JPEG" else "8-bit RGB"), codec.name
    return encoding_profile("8-bit grayscale" if count == 1 else "8-bit multi-band"), codec.name


def _deep_profile(image: ImageProperties, max_z_error: float) -> EncodingProfile:
    """16-bit, 32-bit, 64-bit and float imagery: lossless unless an error bound is allowed."""
    if image.data_type in LERC_UNSUPPORTED_TYPES:
        return encoding_profile("64-bit integer")
    if max_z_error > 0:
        nan_bands = image.band_count > 1 and image.nodata is not None and math.isnan(image.nodata)
        return encoding_profile("bounded error refused: NaN in several bands" if nan_bands else "bounded error")
    return encoding_profile("float lossless" if image.data_type in FLOAT_TYPES else "integer lossless")
