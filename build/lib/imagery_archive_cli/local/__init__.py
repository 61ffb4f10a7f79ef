"""The function and an S3 endpoint on this machine, for the demo, a local backfill and the tests (the `local` extra)."""
