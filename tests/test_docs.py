"""The documentation keeps up with the code: the configuration reference against the names the code reads,
the licence page against the sample data's manifest, the README as a front page, a site that builds, and no
tracker references where a reader looks.

The configuration page (docs/configuration.md) is the one home of every context key and environment
variable. The names come from the code here, not from a list kept beside it: the context keys
`infra/settings.py` accepts, the variables the function's package looks up in its environment, and the ones
the stack sets for it.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.compression_function import function_environment
from infra.settings import CONTEXT_KEYS, PipelineSettings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
RUNTIME = ROOT / "lambda_src" / "imagery_archive"
ENV_NAME = re.compile(r'"([A-Z][A-Z0-9_]{2,})"')
ENV_LOOKUP = re.compile(r"\b(env|environ)\b")
README_MAX_LINES = 200
DEPLOY_BY_LINE = 120


def table_names(page: str, heading: str) -> set[str]:
    """The backticked names in the first column of the tables under `## heading` (to the next `## `).

    A row may document two related names, as the one for outputPrefix and archivePrefix does.
    """
    section = page.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", section, re.MULTILINE)
    return {name for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)}


def variables_the_runtime_reads() -> set[str]:
    """Every SCREAMING_CASE string on a line of the runtime that looks something up in `env`/`environ`."""
    names: set[str] = set()
    for path in RUNTIME.rglob("*.py"):
        for line in path.read_text().splitlines():
            if ENV_LOOKUP.search(line):
                names.update(ENV_NAME.findall(line))
    return names


def variables_the_stack_sets() -> set[str]:
    """The function's environment with every optional knob set, plus what the large-scene construct adds."""
    every_knob = PipelineSettings(target_ssim=0.95, max_z_error=1.0, lossless_prefixes=("masks/",))
    names = set(function_environment(every_knob, "output-bucket", "https://queue"))
    for path in (ROOT / "infra").glob("*.py"):
        names.update(re.findall(r'add_environment\(\s*"([A-Z][A-Z0-9_]+)"', path.read_text()))
    return names


def test_the_code_reads_what_the_reference_is_checked_against() -> None:
    """Guards the scan itself: a refactor that hid every lookup from it would make the next test vacuous."""
    assert {"OUTPUT_BUCKET", "SOURCE_READ", "SOURCE_KEY", "AWS_BATCH_JOB_ID"} <= variables_the_runtime_reads()
    assert {"POWERTOOLS_METRICS_NAMESPACE", "LARGE_SCENE_BYTES", "TARGET_SSIM"} <= variables_the_stack_sets()


def test_every_environment_variable_is_documented_and_nothing_else() -> None:
    documented = table_names(CONFIGURATION.read_text(), "Environment variables")
    in_code = variables_the_runtime_reads() | variables_the_stack_sets()
    missing, extra = in_code - documented, documented - in_code
    assert not missing, f"read or set by the code, missing from docs/configuration.md: {missing}"
    assert not extra, f"documented, but no code reads or sets them: {extra}"


def test_every_context_key_is_documented_and_nothing_else() -> None:
    documented = table_names(CONFIGURATION.read_text(), "Context keys")
    missing, extra = set(CONTEXT_KEYS) - documented, documented - set(CONTEXT_KEYS)
    assert not missing, f"missing from docs/configuration.md: {missing}"
    assert not extra, f"documented, but infra/settings.py reads no such key: {extra}"


def manifest_rows() -> list[dict[str, str]]:
    with (ROOT / "sample_data" / "MANIFEST.tsv").open(newline="") as manifest:
        return list(csv.DictReader(manifest, delimiter="\t"))


def test_the_licence_page_states_every_sample_files_licence_as_the_manifest_does() -> None:
    page = (DOCS / "license.md").read_text()
    rows = manifest_rows()
    assert len(rows) >= 10, "the manifest lists the bundled imagery"
    for row in rows:
        assert f"| `{row['file']}` | {row['license']} |" in page, f"docs/license.md misstates {row['file']}'s licence"
    stated_by_manifest = sum("not stated" in row["license"] for row in rows)
    assert page.count("not stated") >= stated_by_manifest, "where the manifest says 'not stated', the page says so"


def test_the_repository_has_a_licence() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()


def test_the_readme_is_a_front_page_with_deploy_early() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move details to docs/"
    assert lines.index("## Deploy to AWS") < DEPLOY_BY_LINE, "a newcomer finds how to deploy within 120 lines"
    assert any("make demo" in line for line in lines[:10]), "the front page starts with the two commands"
    assert any("make test" in line for line in lines[:10]), "the front page starts with the two commands"


def reader_facing_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("path", reader_facing_files(), ids=lambda path: path.name)
def test_no_tracker_references_where_a_reader_looks(path: Path) -> None:
    found = re.findall(r"\bissues? #?\d+\b|\bthe issue'?s?\b", path.read_text(), re.IGNORECASE)
    assert not found, f"{path.relative_to(ROOT)} cites the tracker ({found}): say what the change did instead"


COMMANDS = ("demo", "backfill", "restore", "status", "failed", "catalog", "choose-settings", "costs")


@pytest.mark.parametrize("command", [(), *((name,) for name in COMMANDS)], ids=lambda c: " ".join(c) or "top")
def test_no_tracker_references_in_the_commands_help(command: tuple[str, ...]) -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "imagery_archive_cli", *command, "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: imagery-archive" in help_text
    assert not re.search(r"\bissues? #?\d+|\bthe issue\b", help_text, re.IGNORECASE), help_text


def test_the_help_lists_every_command_checked_above() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "imagery_archive_cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    commands = help_text.split("\ncommands:\n", 1)[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.startswith("  ")}
    assert listed == set(COMMANDS), f"a new subcommand's help must be checked too: {listed ^ set(COMMANDS)}"


@pytest.mark.slow
def test_the_site_builds_strictly_and_offline(tmp_path: Path) -> None:
    """`mkdocs build --strict` fails on a broken link, anchor, missing page or missing included snippet."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    build = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    benchmarks = (tmp_path / "site" / "benchmarks.html").read_text()
    assert "rate-distortion" in benchmarks.lower(), "the benchmarks page shows BENCHMARKS.md"
    assert "fonts.googleapis.com" not in (tmp_path / "site" / "index.html").read_text(), "no web fonts"


def test_make_lint_builds_the_site_and_git_ignores_it() -> None:
    lint = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "mkdocs build --strict" in lint, "make lint (and so make test and CI) builds the site strictly"
    assert "site/" in (ROOT / ".gitignore").read_text().splitlines(), "the built site is never committed"
