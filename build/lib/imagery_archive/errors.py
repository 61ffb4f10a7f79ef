"""The errors the pipeline tells apart.

What matters for an S3-triggered function is whether retrying can help. A `PermanentError` is bad
input: retrying would fail the same way, so the original is tagged and left in place. Anything else
(throttling, network, a full disk) propagates, so Lambda retries the event and, in the end, sends it
to the failure queue. In both cases nothing is deleted.
"""


class ImageryArchiveError(Exception):
    """Base of every error raised on purpose by this package."""


class SettingsError(ImageryArchiveError, ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


class PermanentError(ImageryArchiveError):
    """The object can never be processed as it is: mark it and move on."""


class EmptyObjectError(PermanentError):
    """The object has no bytes."""


class TooLargeError(PermanentError):
    """The object can't fit in the function's scratch space: retrying would only fail again."""


class UnreadableImageError(PermanentError):
    """GDAL can't open the object as an image (not an image, or a format GDAL doesn't read)."""


class CorruptImageError(PermanentError):
    """GDAL opened the image but reading its pixels failed (truncated or damaged file)."""


class UnsupportedImageError(PermanentError):
    """A readable image this pipeline can't write faithfully (for example, no bands)."""


class SeveralImagesError(UnsupportedImageError):
    """A file holding several images (NITF image segments, TIFF pages): one COG holds one image."""


class ResourceExhaustedError(ImageryArchiveError):
    """GDAL ran out of memory: the state of this machine, not a fault of the input. Transient."""


class ScratchSpaceTakenError(ImageryArchiveError):
    """The object would fit in an empty scratch space, but not in what is free now. Transient."""


class OutputKeyTakenError(PermanentError):
    """Both COG keys an upload may have hold COGs of other sources: renaming the upload is the cure."""


class SourceChangedError(ImageryArchiveError):
    """The input object was replaced while it was processed; its new version has an event of its own."""


class ArchiveNotVerifiedError(ImageryArchiveError):
    """The archived copy doesn't match the original: the original must stay where it is."""
