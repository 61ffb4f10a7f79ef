"""The benchmark's report: medians per scene and contender, ratios to the baseline of the same session,
the phase breakdown, the rate-distortion table, the machine, all as Markdown tables."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from osgeo import gdal

from bench import ratedistortion
from bench.measure import MiB
from bench.orchestration import DESCRIPTIONS, ROOT, S3_CONTENDERS, Run
from bench.warm import warm_section


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[Run]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per scene and contender: medians over rounds, and ratios to gdal_translate (single-threaded and on
    every CPU) and to the reference."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for run in runs:
        row = table.setdefault(run.scene, {}).setdefault(run.contender, {"runs": []})
        row["runs"].append(run)
    for rows in table.values():
        for name, row in rows.items():
            runs_ = row.pop("runs")
            m = [r.measurement for r in runs_]
            first = runs_[0]
            row.update(
                contender=name,
                rounds=len(runs_),
                wall_s=median([x.wall_s for x in m]),
                wall_all_s=[round(x.wall_s, 2) for x in m],
                cpu_s=median([x.cpu_s for x in m]),
                other_cpu_s=median([x.other_cpu_s for x in m]),
                server_cpu_s=median([x.server_cpu_s for x in m]),
                peak_rss_mib=median([x.peak_rss_bytes / MiB for x in m]),
                peak_rss_max_mib=max(x.peak_rss_bytes / MiB for x in m),
                peak_tmp_mib=median([x.peak_scratch_bytes / MiB for x in m]),
                peak_tmp_max_mib=max(x.peak_scratch_bytes / MiB for x in m),
                bytes_moved=median([x.reported.get("bytes_moved", 0) for x in m]) if name in S3_CONTENDERS else None,
                bytes_downloaded=m[0].reported.get("bytes_downloaded"),
                bytes_uploaded=m[0].reported.get("bytes_uploaded"),
                s3_calls=m[0].reported.get("s3_calls"),
                input_bytes=first.input_bytes,
                output_bytes=first.output_bytes,
                output_sizes_equal=len({r.output_bytes for r in runs_}) == 1,
                ssim=first.ssim,
                mask=first.mask,
                phases={
                    phase: median(
                        [
                            r.notes.get("phases", {}).get(phase, r.measurement.reported.get("phases", {}).get(phase, 0))
                            for r in runs_
                        ]
                    )
                    for phase in {**first.notes.get("phases", {}), **first.measurement.reported.get("phases", {})}
                },
                encoding=first.notes.get("encoding"),
                function_ssim=first.notes.get("function_ssim"),
                source_read=first.notes.get("source_read"),
                gets=first.notes.get("gets", {}),
                gdal_gets=first.measurement.reported.get("gdal_gets"),
            )
        base = rows.get("gdal_translate")
        all_threads = rows.get("gdal_translate_all_threads")
        reference = rows.get("reference")
        for row in rows.values():
            row["wall_vs_gdal_translate"] = row["wall_s"] / base["wall_s"] if base else None
            row["wall_vs_gdal_translate_all_threads"] = row["wall_s"] / all_threads["wall_s"] if all_threads else None
            row["wall_vs_reference"] = row["wall_s"] / reference["wall_s"] if reference else None
            row["size_vs_reference"] = row["output_bytes"] / reference["output_bytes"] if reference else None
    return table


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / MiB:,.1f} MiB"


def scene_table(scene: str, rows: dict[str, dict[str, Any]]) -> str:
    header = (
        "| contender | rounds | wall s: median (each) | x gdal_translate | x gdal_translate_all_threads | "
        "x reference | CPU s | S3 server CPU s | others' CPU s | peak RSS MiB | moved through function | "
        "peak /tmp MiB | output | SSIM | mask |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for name, row in rows.items():
        in_out = row["input_bytes"] + row["output_bytes"]
        moved = (
            f"{fmt_bytes(row['bytes_moved'])} ({row['bytes_moved'] / in_out:.2f}x in+out)"
            if row["bytes_moved"] is not None
            else "0 (local file)"
        )
        ratio = lambda value: f"{value:.2f}" if value is not None else "-"  # noqa: E731
        lines.append(
            f"| {name} | {row['rounds']} | {row['wall_s']:.1f} ({', '.join(f'{w:.1f}' for w in row['wall_all_s'])}) | "
            f"{ratio(row['wall_vs_gdal_translate'])} | {ratio(row['wall_vs_gdal_translate_all_threads'])} | "
            f"{ratio(row['wall_vs_reference'])} | {row['cpu_s']:.1f} | "
            f"{row['server_cpu_s']:.1f} | {row['other_cpu_s']:.1f} | "
            f"{row['peak_rss_mib']:.0f} (max {row['peak_rss_max_mib']:.0f}) | {moved} | {row['peak_tmp_mib']:.0f} | "
            f"{fmt_bytes(row['output_bytes'])} | {row['ssim']:.4f} | {'exact' if row['mask'] else 'no'} |"
        )
    any_row = next(iter(rows.values()))
    title = f"### Scene {scene}: {fmt_bytes(any_row['input_bytes'])} input\n\n"
    return title + header + "\n".join(lines) + "\n"


def phase_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, row in rows.items():
        if row["phases"]:
            parts = ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in row["phases"].items())
            lines.append(f"- {name}: {parts}" + (f" (encoding {row['encoding']})" if row.get("encoding") else ""))
        if row.get("gets"):
            gets = row["gets"]
            read = f"read: {row['source_read']}; " if row.get("source_read") else ""
            lines.append(
                f"  - {name}: {read}{gets['count']} GETs of the original, {fmt_bytes(gets['bytes'])} in all, "
                f"median {gets['median_bytes'] / 1024:,.0f} KiB each"
                + (f" (GDAL's own: {row['gdal_gets']['count']} GETs)" if row.get("gdal_gets") else "")
            )
    return ("Phase times, seconds (medians):\n\n" + "\n".join(lines) + "\n") if lines else ""


def rd_table(results: list[dict[str, Any]]) -> str:
    images = sorted({r["image"] for r in results})
    encoders = list(ratedistortion.ENCODERS)
    by = {(r["image"], r["encoder"]): r for r in results}
    header = "| image | " + " | ".join(encoders) + " |\n|---|" + "---|" * len(encoders) + "\n"
    lines = []
    for image in images:
        cells = []
        for encoder in encoders:
            r = by.get((image, encoder))
            if r is None or r["bytes"] == 0:
                cells.append("failed" if r else "-")
            else:
                quality = r["detail"].split(" (")[0].replace("gdal.Translate COG ", "").replace("jpeg profile", "JPEG")
                cells.append(f"{r['bytes'] / 1024:,.0f} KiB / {r['ssim']:.4f} ({quality})")
        lines.append(f"| {image} | " + " | ".join(cells) + " |")
    totals = []
    reference_total = sum(by[(i, "reference")]["bytes"] for i in images)
    for encoder in encoders:
        done = [by[(i, encoder)] for i in images if by[(i, encoder)]["bytes"]]
        total = sum(r["bytes"] for r in done)
        worse = [r["image"] for r in done if r["ssim"] < by[(r["image"], "reference")]["ssim"] - 1e-4]
        reference_part = sum(by[(r["image"], "reference")]["bytes"] for r in done)
        totals.append(
            f"{total / 1024:,.0f} KiB = {total / reference_part:.3f}x ref"
            + (f" ({len(done)}/{len(images)} images)" if len(done) < len(images) else "")
            + f"; SSIM below ref on {len(worse)}"
        )
    lines.append("| **total** | " + " | ".join(totals) + " |")
    _ = reference_total
    return header + "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    rio_gdal = subprocess.run(
        [sys.executable, "-c", "import rasterio; print(rasterio.__gdal_version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu,
        "ram_gib": f"{int(memory) / 1024 / 1024:.1f}",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "gdal": gdal.__version__,
        "rasterio_gdal": rio_gdal,
        "git": subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


def render(
    info: dict[str, str],
    command: str,
    table: dict,
    rd: list[dict[str, Any]],
    checks: list[dict],
    warm: dict[str, Any] | None = None,
) -> str:
    parts = [
        f"Machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['ram_gib']} GiB RAM, Linux {info['kernel']}, "
        f"Python {info['python']}, GDAL {info['gdal']} (rio-cogeo: GDAL {info['rasterio_gdal']}); "
        f"{info['date']}; code at {info['git']}.\n\nCommand: `{command}`\n",
    ]
    if table:
        parts.append("Contenders:\n\n" + "\n".join(f"- **{n}**: {d}" for n, d in DESCRIPTIONS.items()) + "\n")
    for scene, rows in table.items():
        parts.append(scene_table(scene, rows))
        parts.append(phase_table(rows))
    if warm:
        parts.append(warm_section(warm))
    if rd:
        parts.append("### Rate-distortion on the bundled 8-bit imagery (size / SSIM)\n\n" + rd_table(rd))
    parts.append(
        "### Targets\n\n| target | verdict | measured |\n|---|---|---|\n"
        + "\n".join(f"| {c['target']} | {c['verdict']} | {c['measured']} |" for c in checks)
        + "\n"
    )
    return "\n".join(parts)
