"""`imagery-archive`: the operator's command, with one subcommand per task (`imagery-archive --help`).

- operations/: backfill (local or S3 Batch Operations), restore, and the originals tagged failed;
- catalogue/: the STAC catalogue of the archive;
- choosing/: which encoding and quality to choose for one's own imagery;
- costs/: what archiving, a backfill or a restore costs;
- demo/: `make demo`, the whole pipeline on the bundled imagery;
- local/: an S3 endpoint and the function on this machine, for the demo and a local backfill
  (`pip install imagery-archive[local]`).

Nothing here ships in the function's image: that is `imagery_archive`, under lambda_src/.
"""
