"""The large-scene job's exit codes: its contract with the job definition's retry strategy (infra.large_scene_job),
kept free of GDAL so the CDK app can read them.

- 0: archived, already archived (a duplicate job), gone, or no longer the upload it was submitted for;
- 1: a transient failure (throttling, network, a tag that could not be written): retried;
- 2: retrying can't help (bad input, tagged failed; or a misconfigured job): never retried.
"""

EXIT_DONE = 0
EXIT_RETRY = 1
EXIT_PERMANENT = 2
