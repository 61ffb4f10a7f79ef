"""Which encoding each kind of image gets: every rule of `choose_encoding`, from properties alone."""

from __future__ import annotations

import math

import pytest

from imagery_archive.errors import PermanentError, UnsupportedImageError
from imagery_archive.imaging.profiles import (
    CODECS,
    ENCODING_PROFILES,
    CompressionProfile,
    Encoding,
    ImageProperties,
    MaskSource,
    choose_encoding,
    choose_profile,
    codec_named,
    encoding_profile,
)

RGB = ("Red", "Green", "Blue")
RGBA = (*RGB, "Alpha")
RGBN = ("Red", "Green", "Blue", "Undefined")  # NAIP: the 4th band is near-infrared data


def image(
    data_type: str = "Byte",
    interpretations: tuple[str, ...] = RGB,
    nodata: float | None = None,
    *,
    palette: bool = False,
    dataset_mask: bool = False,
    categorical: str | None = None,
) -> ImageProperties:
    return ImageProperties(
        width=791,
        height=718,
        data_type=data_type,
        colour_interpretations=interpretations,
        nodata=nodata,
        has_palette=palette,
        has_dataset_mask=dataset_mask,
        categorical=categorical,
    )


def encode(props: ImageProperties, **profile: object) -> Encoding:
    return choose_encoding(props, CompressionProfile(**profile))


# --- 8-bit imagery -----------------------------------------------------------------------------------


def test_rgb_gets_jpeg_at_the_configured_quality():
    for quality in (1, 75, 100):
        encoding = encode(image(), quality=quality)
        assert encoding.compression == "JPEG"
        assert encoding.lossy
        assert encoding.quality == quality
        assert f"QUALITY={quality}" in encoding.creation_options, "the user's quality would be ignored"
        assert encoding.bands == (1, 2, 3)
        assert "YCbCr" in encoding.reason


def test_grayscale_gets_jpeg():
    encoding = encode(image(interpretations=("Gray",)))
    assert (encoding.compression, encoding.bands, encoding.lossy) == ("JPEG", (1,), True)
    assert "grayscale" in encoding.reason


def test_rgbn_keeps_all_four_bands_as_data():
    encoding = encode(image(interpretations=RGBN, nodata=0))
    assert encoding.bands == (1, 2, 3, 4), "the near-infrared band would be dropped"
    assert encoding.mask_from is MaskSource.NODATA, "the 4th band must never be taken for alpha"
    assert encoding.compression == "JPEG"


def test_band_count_alone_never_makes_an_alpha_band():
    assert image(interpretations=RGBN).alpha_band is None
    assert image(interpretations=("Gray", "Undefined")).alpha_band is None


@pytest.mark.parametrize(
    ("interpretations", "alpha", "data_bands"),
    [
        (RGBA, 4, (1, 2, 3)),
        (("Gray", "Alpha"), 2, (1,)),
        (("Alpha", "Red", "Green", "Blue"), 1, (2, 3, 4)),
    ],
)
def test_an_alpha_band_becomes_a_mask_not_a_jpeg_band(interpretations, alpha, data_bands):
    props = image(interpretations=interpretations, nodata=0)
    encoding = encode(props)
    assert props.alpha_band == alpha
    assert encoding.bands == data_bands, "JPEG would smear the alpha band's edge into the image"
    assert encoding.mask_from is MaskSource.ALPHA, "alpha wins over nodata: transparency would be lost"
    assert not encoding.keep_nodata
    assert "alpha" in encoding.reason


def test_representable_nodata_becomes_an_exact_mask_under_a_lossy_codec():
    encoding = encode(image(nodata=0))
    assert encoding.mask_from is MaskSource.NODATA, "JPEG would turn the nodata collar into near-black data"
    assert not encoding.keep_nodata, "a nodata value on JPEG pixels marks the wrong pixels"
    assert "nodata" in encoding.reason


@pytest.mark.parametrize("nodata", [-10000.0, 256.0, -1.0, math.nan])
def test_nodata_outside_the_byte_range_marks_nothing(nodata):
    props = image(interpretations=("Gray",), nodata=nodata)
    encoding = encode(props)
    assert not props.nodata_representable
    assert encoding.mask_from is MaskSource.SOURCE, f"nodata={nodata} would mask real pixels (e.g. black ones)"
    assert not encoding.keep_nodata, f"nodata={nodata} would be clamped into a real value"


@pytest.mark.parametrize(
    ("data_type", "nodata", "representable"),
    [
        ("Byte", 0, True),
        ("Byte", 255, True),
        ("Byte", 256, False),
        ("UInt16", 65535, True),
        ("UInt16", -1, False),
        ("Int16", -32768, True),
        ("Int16", 32768, False),
        ("Int32", -9999, True),
        ("Float32", -9999, True),
        ("Float32", math.nan, True),
        ("Byte", None, False),
    ],
)
def test_nodata_representable(data_type, nodata, representable):
    assert image(data_type, ("Gray",), nodata).nodata_representable is representable


def test_more_bands_than_jpeg_holds_falls_back_to_lossless():
    encoding = encode(image(interpretations=("Undefined",) * 5, nodata=0))
    assert encoding.compression == "DEFLATE"
    assert not encoding.lossy
    assert encoding.bands == (1, 2, 3, 4, 5)
    assert encoding.keep_nodata, "a lossless copy keeps its nodata value"


@pytest.mark.parametrize("codec", ["DEFLATE", "ZSTD", "deflate"])
def test_a_lossless_codec_for_8_bit_is_honoured(codec):
    encoding = encode(image(interpretations=RGBA, nodata=0), codec=codec)
    assert encoding.compression == codec.upper()
    assert not encoding.lossy
    assert encoding.bands == (1, 2, 3, 4), "lossless keeps the alpha band as it is"
    assert encoding.mask_from is MaskSource.SOURCE
    assert encoding.keep_nodata
    assert "PREDICTOR=YES" in encoding.creation_options
    assert not any(option.startswith("QUALITY") for option in encoding.creation_options)


# --- WEBP and its fallbacks --------------------------------------------------------------------------


def test_webp_for_rgb():
    encoding = encode(image(nodata=0), codec="WEBP", quality=80)
    assert (encoding.compression, encoding.bands, encoding.mask_from) == ("WEBP", (1, 2, 3), MaskSource.NODATA)
    assert "QUALITY=80" in encoding.creation_options


def test_webp_for_rgba_keeps_alpha_as_a_mask():
    encoding = encode(image(interpretations=RGBA), codec="WEBP")
    assert (encoding.compression, encoding.bands, encoding.mask_from) == ("WEBP", (1, 2, 3), MaskSource.ALPHA)


@pytest.mark.parametrize("interpretations", [("Gray",), RGBN], ids=["grayscale", "rgbn"])
def test_webp_falls_back_to_jpeg_where_webp_cant_hold_the_bands(interpretations):
    props = image(interpretations=interpretations, nodata=0)
    encoding = encode(props, codec="WEBP", quality=60)
    assert encoding == encode(props, codec="JPEG", quality=60), "WEBP can't encode these bands"
    assert encoding.bands == tuple(range(1, len(interpretations) + 1))


def test_webp_beyond_jpeg_too_falls_back_to_lossless():
    encoding = encode(image(interpretations=("Undefined",) * 6), codec="WEBP")
    assert encoding.compression == "DEFLATE"
    assert not encoding.lossy


# --- palette, deep and complex types -----------------------------------------------------------------


@pytest.mark.parametrize("codec", ["JPEG", "WEBP", "ZSTD"])
def test_paletted_is_always_lossless_deflate(codec):
    encoding = encode(image(interpretations=("Palette",), nodata=216, palette=True), codec=codec)
    assert encoding.compression == "DEFLATE", "class values would become new colours"
    assert not encoding.lossy
    assert encoding.keep_nodata, "nodata 216 would be lost"
    assert encoding.mask_from is MaskSource.SOURCE
    assert "PREDICTOR=YES" not in encoding.creation_options, "a predictor on class indices is pointless"


@pytest.mark.parametrize("data_type", ["UInt16", "Int16", "UInt32", "Int32"])
def test_deep_integers_are_lossless_lerc_by_default(data_type):
    encoding = encode(image(data_type, ("Gray",), nodata=0))
    assert encoding.compression == "LERC_ZSTD"
    assert "MAX_Z_ERROR=0" in encoding.creation_options
    assert not encoding.lossy
    assert encoding.keep_nodata
    assert encoding.mask_from is MaskSource.SOURCE


@pytest.mark.parametrize("data_type", ["UInt64", "Int64"])
def test_64_bit_integers_get_a_codec_that_holds_them(data_type):
    encoding = encode(image(data_type, ("Gray",)))
    assert encoding.compression != "LERC_ZSTD", "LERC has no 64-bit integer type: every such image fails"


@pytest.mark.parametrize("data_type", ["Float32", "Float64"])
def test_floats_are_lossless_zstd_with_a_predictor_by_default(data_type):
    encoding = encode(image(data_type, ("Gray",), nodata=-9999))
    assert encoding.compression == "ZSTD"
    assert "PREDICTOR=YES" in encoding.creation_options
    assert not encoding.lossy
    assert encoding.keep_nodata


@pytest.mark.parametrize("data_type", ["UInt16", "Int32", "Float32", "Float64"])
def test_max_z_error_makes_deep_types_bounded_lossy_lerc(data_type):
    encoding = encode(image(data_type, ("Gray",), nodata=0), max_z_error=0.5)
    assert encoding.compression == "LERC_ZSTD"
    assert encoding.creation_options == ("MAX_Z_ERROR=0.5",), "the error bound would not reach GDAL"
    assert encoding.lossy
    assert encoding.quality is None
    assert encoding.mask_from is MaskSource.NODATA, "values near the nodata value would be taken for nodata"
    assert not encoding.keep_nodata


def test_max_z_error_drops_an_alpha_band_into_the_mask():
    encoding = encode(image("UInt16", RGBA), max_z_error=2)
    assert (encoding.bands, encoding.mask_from) == ((1, 2, 3), MaskSource.ALPHA)


def test_max_z_error_does_not_touch_8_bit_imagery():
    assert encode(image(), max_z_error=3) == encode(image())


@pytest.mark.parametrize("data_type", ["CInt16", "CInt32", "CFloat32", "CFloat64"])
def test_complex_types_stay_lossless_zstd(data_type):
    encoding = encode(image(data_type, ("Gray",)), max_z_error=1)
    assert encoding.compression == "ZSTD"
    assert not encoding.lossy, "no lossy codec holds complex SAR data"
    assert "PREDICTOR=YES" not in encoding.creation_options


# --- what can't be encoded ---------------------------------------------------------------------------


def test_an_image_without_bands_is_unsupported_and_permanent():
    with pytest.raises(UnsupportedImageError, match="no raster bands") as caught:
        encode(image(interpretations=()))
    assert isinstance(caught.value, PermanentError), "retrying would fail the same way"


@pytest.mark.parametrize("name", ["PNG", "LZW", ""])
def test_an_unknown_codec_is_a_clear_error(name):
    with pytest.raises(ValueError, match=r"unknown compression .*choose one of JPEG, WEBP, DEFLATE, ZSTD"):
        encode(image(), codec=name)


def test_codec_names_are_case_insensitive():
    for name, codec in CODECS.items():
        assert codec_named(name.lower()) is codec


def test_every_encoding_says_why():
    cases = [
        image(),
        image(interpretations=RGBA),
        image(interpretations=("Palette",), palette=True),
        image("UInt16", ("Gray",)),
        image("Float32", ("Gray",)),
        image("CFloat32", ("Gray",)),
    ]
    for props in cases:
        assert encode(props).reason.strip(), f"no reason given for {props}"


# --- the registry of profiles ------------------------------------------------------------------------

EVERY_PROFILE = [
    (
        image(interpretations=("Gray",), categorical="12 classes"),
        {},
        "categorical",
        "DEFLATE",
        (),
        "class map (12 classes): lossless, so class values stay exact, in every overview too",
    ),
    (
        image(),
        {"lossless": True},
        "8-bit lossless requested",
        "DEFLATE",
        ("PREDICTOR=YES",),
        "8-bit, lossless requested for this object: DEFLATE",
    ),
    (image(), {}, "8-bit RGB as YCbCr JPEG", "JPEG", ("QUALITY=75",), "8-bit RGB (YCbCr): JPEG"),
    (image(), {"codec": "WEBP"}, "8-bit RGB", "WEBP", ("QUALITY=75",), "8-bit RGB: WEBP"),
    (image(interpretations=("Gray",)), {}, "8-bit grayscale", "JPEG", ("QUALITY=75",), "8-bit grayscale: JPEG"),
    (image(interpretations=RGBN), {}, "8-bit multi-band", "JPEG", ("QUALITY=75",), "8-bit 4 bands of data: JPEG"),
    (image(), {"codec": "zstd"}, "8-bit lossless", "ZSTD", ("PREDICTOR=YES",), "8-bit, ZSTD requested: lossless"),
    (
        image(interpretations=("Undefined",) * 6),
        {"codec": "WEBP"},
        "8-bit beyond the codec",
        "DEFLATE",
        ("PREDICTOR=YES",),
        "8-bit with 6 bands: WEBP can't hold it",
    ),
    (
        image(interpretations=("Palette",), palette=True),
        {},
        "paletted",
        "DEFLATE",
        (),
        "paletted: lossless, so class values and colour table stay exact",
    ),
    (
        image("Int16", ("Gray",)),
        {},
        "integer lossless",
        "LERC_ZSTD",
        ("MAX_Z_ERROR=0",),
        "Int16: lossless LERC_ZSTD, data type kept",
    ),
    (
        image("Float64", ("Gray",)),
        {},
        "float lossless",
        "ZSTD",
        ("PREDICTOR=YES",),
        "float: lossless ZSTD with the floating-point predictor",
    ),
    (
        image("UInt16", ("Gray",), nodata=0),
        {"max_z_error": 2.5},
        "bounded error",
        "LERC_ZSTD",
        ("MAX_Z_ERROR=2.5",),
        "UInt16: LERC_ZSTD, error at most 2.5, data type kept; nodata kept as an exact mask",
    ),
    (
        image("Float32", ("Gray", "Gray"), nodata=math.nan),
        {"max_z_error": 0.1},
        "bounded error refused: NaN in several bands",
        "ZSTD",
        ("PREDICTOR=YES",),
        "float, several bands with NaN nodata: lossless ZSTD (LERC can't)",
    ),
    (
        image("UInt64", ("Gray",)),
        {},
        "64-bit integer",
        "ZSTD",
        ("PREDICTOR=YES",),
        "UInt64: lossless ZSTD (LERC has no 64-bit integers)",
    ),
    (
        image("CInt16", ("Gray",)),
        {},
        "complex",
        "ZSTD",
        (),
        "CInt16 data: lossless ZSTD, no lossy codec holds it",
    ),
]


@pytest.mark.parametrize(
    ("props", "request_", "name", "compression", "options", "reason"),
    EVERY_PROFILE,
    ids=[case[2] for case in EVERY_PROFILE],
)
def test_each_profile_writes_what_it_declares(props, request_, name, compression, options, reason):
    chosen, _codec = choose_profile(props, CompressionProfile(**request_))
    assert chosen is encoding_profile(name)
    encoding = encode(props, **request_)
    assert (encoding.compression, encoding.creation_options, encoding.reason) == (compression, options, reason)


def test_every_registered_profile_is_chosen_for_some_image():
    chosen = {case[2] for case in EVERY_PROFILE}
    assert chosen == set(ENCODING_PROFILES), "a profile no image gets is dead code; one missing here is untested"


def test_an_unknown_profile_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no encoding profile 'PNG': the profiles are 8-bit RGB as YCbCr JPEG, "):
        encoding_profile("PNG")


def test_profiles_and_encodings_take_keywords_only():
    with pytest.raises(TypeError):
        Encoding("JPEG", (), (1,), MaskSource.SOURCE, False, True, "positional")


def test_class_and_complex_values_get_nearest_overviews_and_imagery_averaged_ones():
    nearest = {case[2] for case in EVERY_PROFILE if encode(case[0], **case[1]).resampling == "NEAREST"}
    assert nearest == {"paletted", "categorical", "complex"}, (
        "averaged overviews invent class values (and blend I/Q phases)"
    )


def test_a_class_map_is_lossless_whatever_codec_or_error_bound_is_asked():
    for data_type, request in (("Byte", {"codec": "WEBP"}), ("UInt16", {"max_z_error": 5.0})):
        encoding = encode(image(data_type, ("Gray",), categorical="a raster attribute table"), **request)
        assert not encoding.lossy, f"{data_type} class labels would be changed by a lossy codec"
        assert encoding.resampling == "NEAREST"


def test_lossless_requested_overrides_the_codec_and_the_error_bound():
    assert not encode(image(), lossless=True).lossy
    deep = encode(image("UInt16", ("Gray",)), lossless=True, max_z_error=10.0)
    assert not deep.lossy
    assert deep.creation_options == ("MAX_Z_ERROR=0",)
