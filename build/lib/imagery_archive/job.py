"""`python3 -m imagery_archive.job`: the large-scene Batch job's command, kept for the job definitions that name it.

The job itself is `imagery_archive.entrypoints.batch_job`.
"""

import sys

from imagery_archive.entrypoints.batch_job import main

if __name__ == "__main__":
    sys.exit(main())
