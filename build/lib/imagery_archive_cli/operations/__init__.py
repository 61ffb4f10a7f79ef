"""`imagery-archive backfill`, `restore` and `failed`: the operator's work on a deployed archive."""
