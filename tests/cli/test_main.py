"""The `imagery-archive` command: one console script, its subcommands, their help and exit codes, and the
commands that must work on an operator's machine without GDAL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imagery_archive_cli.main import SUBCOMMANDS
from tests.support.paths import ROOT

CONSOLE_SCRIPT = Path(sys.executable).parent / "imagery-archive"
WITHOUT_GDAL = "import sys; sys.modules['osgeo'] = None; from imagery_archive_cli.main import main; sys.exit(main())"


def run(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script (or, with `code`, Python running it) in a fresh process."""
    command = [sys.executable, "-c", code, *args] if code else [str(CONSOLE_SCRIPT), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)


def test_the_console_script_lists_every_operator_command() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: imagery-archive")
    listed = {line.split()[0] for line in result.stdout.split("commands:\n")[1].splitlines() if line.strip()}
    assert listed == {"demo", "backfill", "restore", "status", "failed", "catalog", "choose-settings", "costs"}


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_each_subcommand_has_its_own_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: imagery-archive {command}"), result.stdout[:200]


@pytest.mark.parametrize("command", ["catalog", "restore", "failed", "status", "costs"])
def test_the_operator_commands_that_need_no_gdal_start_without_it(command: str) -> None:
    result = run(command, "--help", code=WITHOUT_GDAL)
    assert result.returncode == 0, result.stderr
    assert f"imagery-archive {command}" in result.stdout


def test_an_unknown_command_is_one_line_and_exit_2() -> None:
    result = run("archive-everything")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, "one line, pointing to --help"
    assert "invalid choice: 'archive-everything'" in result.stderr


def test_a_bad_flag_of_a_subcommand_exits_2_naming_it() -> None:
    result = run("failed")
    assert result.returncode == 2
    assert "imagery-archive failed: error: the following arguments are required: --input-bucket" in result.stderr
