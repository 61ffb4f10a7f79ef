"""The performance benchmark, in one run: `python -m bench.run` (`make bench`); see BENCHMARKS.md.

For each scene, the contenders run in rounds (A B C D, A B C D, ...), each in a fresh process, on the
same input; the tables show medians over rounds and ratios to the reference design's compression
step alone (`gdal_translate`) and to the same step on every CPU (`gdal_translate_all_threads`), both
measured in the same session. Then the rate-distortion table on the
bundled 8-bit imagery. Everything printed is also written to `bench_out/results.json` and, as
Markdown, to `bench_out/report.md`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import ratedistortion
from bench.orchestration import (
    ALL_CONTENDERS,
    DESCRIPTIONS,
    ROOT,
    SCALING_CONTENDERS,
    VENV_BIN,
    Session,
    endpoint_for,
    run_scenes,
    snapshot_function_code,
)
from bench.reporting import machine, render, summarise
from bench.verdicts import verdicts
from imagery_archive_cli.local.s3_server import FAKE_CREDENTIALS, s3_client


def contender_names(text: str) -> list[str]:
    """A comma-separated list of contenders, each one `DESCRIPTIONS` knows."""
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in DESCRIPTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown contender(s) {', '.join(unknown)}: choose from {', '.join(DESCRIPTIONS)}"
        )
    return names


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scenes",
        default="M190,M,L",
        help="scenes to run, of S (15 MB), M190 (187 MB), M (310 MB), L (1.2 GB), and S or M as -striped, -nitf, "
        "-jp2 (M-nitf, ...)",
    )
    parser.add_argument("--rounds", default="S=1,M190=3,M=3,L=1", help="rounds per scene, e.g. M=3,L=1")
    parser.add_argument(
        "--contenders", type=contender_names, default=list(ALL_CONTENDERS), help="contenders on every scene but L"
    )
    parser.add_argument(
        "--large-contenders", type=contender_names, default=list(SCALING_CONTENDERS), help="contenders on scene L"
    )
    parser.add_argument("--skip-rate-distortion", action="store_true")
    parser.add_argument(
        "--endpoint",
        choices=("moto", "realistic"),
        default="moto",
        help="moto alone, or moto behind a latency proxy with s3rver serving object reads from disk",
    )
    parser.add_argument("--delay-ms", type=float, default=25.0, help="latency added per request (realistic)")
    parser.add_argument(
        "--quiet-wait", type=float, default=15.0, help="seconds to wait, before each run, for other load to stop"
    )
    parser.add_argument("--out", default=str(ROOT / "bench_out"), type=Path)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the S3 server is stopped on `kill`
    args = parser().parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = machine()
    snapshot_function_code(out)
    with endpoint_for(args, out) as endpoint:
        s3 = s3_client({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint.url})
        runs = run_scenes(args, Session(out, endpoint, s3, args.quiet_wait), started)
    rd = (
        []
        if args.skip_rate_distortion
        else ratedistortion.as_dicts(ratedistortion.run(out / "ratedistortion", VENV_BIN / "rio"))
    )
    table = summarise(runs)
    checks = verdicts(table, rd)
    report = render(
        info, " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]), table, rd, checks
    )
    print("\n" + report)
    results = {
        "machine": info,
        "scenes": {s: {n: {k: v for k, v in row.items()} for n, row in rows.items()} for s, rows in table.items()},
        "runs": [{**asdict(r), "measurement": asdict(r.measurement)} for r in runs],
        "rate_distortion": rd,
        "targets": checks,
        "seconds": time.perf_counter() - started,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "report.md").write_text(report)
    return results


if __name__ == "__main__":
    main()
