"""The `imagery-archive` command: one subcommand per operator task, each with its own `--help`.

A subcommand's module is imported only when it runs, so `imagery-archive --help` and the help of the commands
that need no GDAL (`catalog`, `restore`, `failed`, `costs`) work on a machine without it.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from imagery_archive import __version__
from imagery_archive_cli.console import Parser


@dataclass(frozen=True)
class Subcommand:
    module: str
    """The module whose `main(argv) -> int` runs it."""
    summary: str


SUBCOMMANDS = {
    "demo": Subcommand(
        "imagery_archive_cli.demo.command", "the whole pipeline on the bundled imagery, on a local S3 endpoint"
    ),
    "backfill": Subcommand(
        "imagery_archive_cli.operations.backfill",
        "archive what is already in a bucket (locally or by Batch Operations)",
    ),
    "restore": Subcommand("imagery_archive_cli.operations.restore", "bring archived originals back from Glacier"),
    "failed": Subcommand("imagery_archive_cli.operations.failed", "list the originals tagged failed, with the reason"),
    "catalog": Subcommand("imagery_archive_cli.catalogue.catalog", "write the STAC catalogue of the COGs' Items"),
    "choose-settings": Subcommand(
        "imagery_archive_cli.choosing.choose_settings", "the quality that reaches a target SSIM on your own images"
    ),
    "costs": Subcommand(
        "imagery_archive_cli.costs.scene_costs", "what archiving a large scene costs, Fargate vs Lambda"
    ),
}


def parser() -> argparse.ArgumentParser:
    """The top-level parser: the subcommand's name, and everything after it for the subcommand's own parser."""
    top = Parser(
        prog="imagery-archive",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="commands:\n" + "\n".join(f"  {name:<16}{command.summary}" for name, command in SUBCOMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"imagery-archive {__version__}")
    top.add_argument("command", choices=SUBCOMMANDS, metavar="COMMAND", help="one of the commands below")
    top.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments (COMMAND --help)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its exit code is the command's."""
    arguments = parser().parse_args(argv)
    command = importlib.import_module(SUBCOMMANDS[arguments.command].module)
    return int(command.main(arguments.args))
