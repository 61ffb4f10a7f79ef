"""`imagery-archive catalog`: the STAC catalogue of the archive, validated offline."""
