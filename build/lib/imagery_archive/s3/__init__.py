"""The S3 layer, knowing nothing of GDAL: `storage` (copy, verify, delete, tag), `checksums`, `archive_proof`
(what proves an archived copy), `keys` and `placement` (where each object goes), and `source_access`
(whether an original is streamed or downloaded)."""
