"""The performance benchmark, in one run: `python -m bench.run` (`make bench`); see BENCHMARKS.md.

For each scene, the contenders run in rounds (A B C D, A B C D, ...), each in a fresh process, on the
same input; the tables show medians over rounds and ratios to the reference design's compression
step alone (`gdal_translate`) and to the same step on every CPU (`gdal_translate_all_threads`), both
measured in the same session. Then "many small objects, warm" (`bench.warm`: one process per
contender takes a dozen 24 MB objects in turn; `--only-warm` runs it alone) and the rate-distortion
table on the bundled 8-bit imagery. Everything printed is also written to `bench_out/results.json`
and, as Markdown, to `bench_out/report.md`.
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
    xray_daemon,
)
from bench.reporting import machine, render, summarise
from bench.verdicts import verdicts
from bench.warm import WarmPlan, run_warm
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


def warm_object_count(text: str) -> int:
    """0 (no warm scenario), or at least 2 objects: the first pays the cold start, the others are measured."""
    count = int(text)
    if count == 1 or count < 0:
        raise argparse.ArgumentTypeError("0 to skip the warm scenario, or at least 2 objects")
    return count


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
        "--traced",
        action="store_true",
        help="run our function's contenders with X-Ray tracing on, as in Lambda with active tracing",
    )
    parser.add_argument(
        "--warm-objects",
        type=warm_object_count,
        default=WarmPlan.objects,
        help="objects of ~24 MB in the 'many small objects, warm' scenario, run after the scenes (0 skips it)",
    )
    parser.add_argument("--warm-rounds", type=int, default=WarmPlan.rounds, help="rounds of the warm scenario")
    parser.add_argument(
        "--only-warm", action="store_true", help="run the warm scenario alone: no scenes, no rate-distortion"
    )
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
    with endpoint_for(args, out) as endpoint, xray_daemon(args.traced) as daemon:
        s3 = s3_client({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint.url})
        session = Session(out, endpoint, s3, args.quiet_wait, xray_daemon=daemon)
        runs = [] if args.only_warm else run_scenes(args, session, started)
        plan = WarmPlan(args.warm_objects, args.warm_rounds)
        warm = run_warm(plan, session, started) if plan.objects else None
    rd = (
        []
        if args.skip_rate_distortion or args.only_warm
        else ratedistortion.as_dicts(ratedistortion.run(out / "ratedistortion", VENV_BIN / "rio"))
    )
    table = summarise(runs)
    checks = verdicts(table, rd, warm)
    command = " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])])
    report = render(info, command, table, rd, checks, warm)
    print("\n" + report)
    results = {
        "machine": info,
        "scenes": {s: {n: {k: v for k, v in row.items()} for n, row in rows.items()} for s, rows in table.items()},
        "runs": [{**asdict(r), "measurement": asdict(r.measurement)} for r in runs],
        "rate_distortion": rd,
        "warm": warm,
        "targets": checks,
        "seconds": time.perf_counter() - started,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "report.md").write_text(report)
    return results


if __name__ == "__main__":
    main()
