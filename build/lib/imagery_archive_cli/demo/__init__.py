"""`imagery-archive demo` (`make demo`): the whole pipeline on the bundled imagery, on a local S3 endpoint."""
