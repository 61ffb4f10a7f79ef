"""Where the tests find the repository, the bundled imagery (sample_data/, see its MANIFEST.tsv) and the sample
events (tests/events/), wherever the test module sits."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data"
EVENTS = ROOT / "tests" / "events"
