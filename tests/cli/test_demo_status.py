"""`make demo` ends with `imagery-archive status`, read from the local run's EMF log: real numbers, the same as
the demo's own table (every scene archived, the function's and the large-scene job's alike; the broken upload
failed)."""

from __future__ import annotations

import re

import pytest

from imagery_archive_cli.demo.command import main
from imagery_archive_cli.local.s3_server import reset

SAMPLES = ["RGB.byte.tif", "naip_rgbn_5m.tif"]


@pytest.mark.slow
def test_the_demo_ends_with_the_status_of_its_own_run(tmp_path, capsys, s3_endpoint):
    reset(s3_endpoint)  # in a test session the demo runs on the shared server: an earlier demo's archives are there
    assert main(["--out", str(tmp_path), "--samples", *SAMPLES]) == 0
    output = capsys.readouterr().out
    status = output[output.index("imagery-archive status, from the function's metrics") :]
    assert re.search(rf"archived\s+{len(SAMPLES)} objects", status), status
    assert re.search(r"failed, tagged in place\s+1 originals", status), status
    assert "saving per month" in status
