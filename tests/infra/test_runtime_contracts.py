"""The CDK app imports the runtime's contracts (settings, prefixes, routing thresholds) without GDAL: a machine
that only deploys needs no GDAL installed."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import ROOT


def test_the_cdk_app_imports_the_runtime_without_gdal() -> None:
    code = "import sys; sys.modules['osgeo'] = None; import infra.stack; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "imagery_archive"
        in subprocess.run(
            [
                sys.executable,
                "-c",
                "import infra.stack, sys; print(sorted(m for m in sys.modules if m.startswith('imag')))",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    ), "the app does import the runtime's contracts"
