"""`make demo`: the real pipeline on a local S3 endpoint with the bundled imagery, then what it did.

An S3 endpoint runs on 127.0.0.1 (moto's server) with an input and an output bucket configured as
the stack configures them. Each sample image is uploaded, and the ObjectCreated event S3 would send
is delivered to the same `handler` the container runs. Everything shown afterwards is read back from
the buckets (and from the S3 calls the function made): a table per image, the proof that no
original was deleted before its archived copy was verified, what the run saves per month, and a
side-by-side figure of originals and their COGs.

The command line is here; the run is `demo.run`, the proof of order `demo.proof`, the report `demo.report`.

    imagery-archive demo [--out demo_out] [--quality 75] [--storage-class GLACIER] [--prices prices.json]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from imagery_archive_cli.console import Parser, fail
from imagery_archive_cli.costs import pricing
from imagery_archive_cli.demo.report import render
from imagery_archive_cli.demo.run import INPUT_BUCKET, OUTPUT_BUCKET, run_demo
from imagery_archive_cli.demo.samples import bundled_samples

ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "STANDARD_IA")


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="imagery-archive demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="where the figure and logs go")
    parser.add_argument("--quality", type=_quality, default=75, help="JPEG/WEBP quality, 1-100 (default 75)")
    parser.add_argument(
        "--storage-class", type=str.upper, choices=ARCHIVE_CLASSES, default="GLACIER", help="archive class"
    )
    parser.add_argument("--prices", type=Path, help="JSON price table overriding the built-in one")
    parser.add_argument("--samples", nargs="+", metavar="NAME", help="only these files of sample_data/")
    parser.add_argument("--no-broken", action="store_true", help="don't upload the deliberately broken file")
    args = parser.parse_args(argv)
    try:
        prices = pricing.load_prices(args.prices)
    except pricing.PriceTableError as error:
        fail(str(error))
    samples = _chosen_samples(args.samples)
    print(
        f"Local S3 endpoint on 127.0.0.1: buckets {INPUT_BUCKET} and {OUTPUT_BUCKET} (as the stack creates them);"
        f" uploading {len(samples)} sample images{' and 1 deliberately broken file' if not args.no_broken else ''},"
        " one ObjectCreated event each to handler.handler ..."
    )
    run = run_demo(samples, args.out, prices, args.storage_class, args.quality, broken=not args.no_broken)
    print(render(run))
    healthy = all(proof.ok for proof in run.proofs) and all(run.archives_match_files.values())
    return 0 if healthy else 1


def _chosen_samples(names: Sequence[str] | None) -> list[Path]:
    """The bundled samples named on the command line (all of them if none); exit 2 naming any unknown one."""
    samples = bundled_samples()
    if names:
        unknown = sorted(set(names) - {path.name for path in samples})
        if unknown:
            fail(f"not in sample_data/: {', '.join(unknown)}")
        samples = [path for path in samples if path.name in names]
    return samples


def _quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 100")
    return value


if __name__ == "__main__":
    sys.exit(main())
