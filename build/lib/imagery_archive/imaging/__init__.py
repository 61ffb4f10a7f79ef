"""The GDAL core: one image in, one COG out (`compress`), knowing nothing of S3 or Lambda.

`profiles` chooses the encoding (a pure function), `cog_writer` writes the COG, `single_pass` and `pyramid`
build its overviews from one read of the original, `quality` measures the result's SSIM and
`target_quality` finds the quality that reaches a target; `categories` tells class maps, `metadata_domains`
carries NITF metadata, `decoding` and `gdal_errors` are GDAL's side of reading and failing.
"""
