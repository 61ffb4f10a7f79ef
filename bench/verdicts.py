"""The benchmark's verdicts: each target (speed, memory, rate-distortion) PASS or FAIL from the measured medians."""

from __future__ import annotations

from typing import Any

from bench.measure import MiB
from bench.reporting import fmt_bytes


def verdict(target: str, passed: bool | None, measured: str) -> dict[str, Any]:
    return {"target": target, "verdict": {True: "PASS", False: "FAIL", None: "n/a"}[passed], "measured": measured}


def verdicts(
    table: dict[str, dict[str, dict[str, Any]]], rd: list[dict[str, Any]], warm: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each target (time, bytes moved, scratch space, memory, rate-distortion, small objects warm) with its
    measure and PASS / FAIL."""
    return [
        *_scene_verdicts(table),
        *_all_threads_verdicts(table),
        *_memory_verdicts(table),
        *_rate_distortion_verdicts(rd),
        *_warm_verdicts(warm),
    ]


def _scene_verdicts(table: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per scene: our end-to-end time against `gdal_translate`, the bytes we moved and the scratch space we used."""
    out = []
    for scene, rows in table.items():
        ours, ref = rows.get("ours"), rows.get("reference")
        if not ours:
            continue
        if ours.get("wall_vs_gdal_translate") is not None:
            out.append(
                verdict(
                    f"{scene}: end to end <= 1.3x gdal_translate",
                    ours["wall_vs_gdal_translate"] <= 1.3,
                    f"ours {ours['wall_s']:.1f} s = {ours['wall_vs_gdal_translate']:.2f}x; reference handler "
                    f"{ref['wall_vs_gdal_translate']:.2f}x"
                    if ref
                    else f"{ours['wall_vs_gdal_translate']:.2f}x",
                )
            )
        in_out = ours["input_bytes"] + ours["output_bytes"]
        moved = f"{fmt_bytes(ours['bytes_moved'])} vs in+out {fmt_bytes(in_out)}"
        out.append(
            verdict(
                f"{scene}: bytes moved <= input + output",
                ours["bytes_moved"] <= in_out * 1.001,
                moved + (f"; reference {fmt_bytes(ref['bytes_moved'])}" if ref else ""),
            )
        )
        out.append(
            verdict(
                f"{scene}: peak /tmp <= input + output",
                ours["peak_tmp_max_mib"] * MiB <= in_out * 1.001,
                f"{ours['peak_tmp_max_mib']:.0f} MiB vs in+out {in_out / MiB:.0f} MiB",
            )
        )
    return out


ALL_THREADS_TARGETS = {"M190": 1.6, "L": 1.3}
"""Scene -> the largest ratio of our end-to-end wall time to `gdal_translate_all_threads`, GDAL's best on its own
(every CPU, AVERAGE overviews): what our S3 transfers, mask and checks may add to the encode. A typical scene
(M190) leaves the fixed costs (cold start, the checks) a larger share than the 1.2 GB one (L)."""


def _all_threads_verdicts(table: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per scene of `ALL_THREADS_TARGETS`: our end-to-end time against `gdal_translate_all_threads`."""
    out = []
    for scene, limit in ALL_THREADS_TARGETS.items():
        rows = table.get(scene, {})
        ours = rows.get("ours")
        if not ours or ours.get("wall_vs_gdal_translate_all_threads") is None:
            continue
        ratio = ours["wall_vs_gdal_translate_all_threads"]
        others = [
            f"{name} {rows[name]['wall_vs_gdal_translate_all_threads']:.2f}x"
            for name in ("reference", "job")
            if name in rows
        ]
        out.append(
            verdict(
                f"{scene}: end to end <= {limit}x gdal_translate_all_threads",
                ratio <= limit,
                f"ours {ours['wall_s']:.1f} s = {ratio:.2f}x"
                f" (gdal_translate_all_threads {rows['gdal_translate_all_threads']['wall_s']:.1f} s)"
                + (f"; {', '.join(others)}" if others else ""),
            )
        )
    return out


def _memory_verdicts(table: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Our peak RSS on scene M, and how it grows from M to L (4x the pixels)."""
    out = []
    if "M" in table and "ours" in table["M"]:
        rss = table["M"]["ours"]["peak_rss_max_mib"]
        out.append(verdict("M: peak RSS <= 600 MiB", rss <= 600, f"{rss:.0f} MiB (max over rounds)"))
    if "M" in table and "L" in table and "ours" in table["M"] and "ours" in table["L"]:
        growth = table["L"]["ours"]["peak_rss_max_mib"] / table["M"]["ours"]["peak_rss_max_mib"]
        out.append(
            verdict(
                "L/M: peak RSS growth <= 1.2x for 4x pixels",
                growth <= 1.2,
                f"{table['M']['ours']['peak_rss_max_mib']:.0f} -> {table['L']['ours']['peak_rss_max_mib']:.0f} MiB"
                f" = {growth:.2f}x",
            )
        )
    return out


WARM_TARGETS = (
    ("reference_warm", 1.0, "ours <= reference per object"),
    ("encode_warm", 2.0, "ours <= 2x bare encode per object"),
)
"""Warm contender, the largest ratio of our seconds per object to its, label: once warm, our handler must beat
the reference's steps outright and cost at most as much again as the bare encode (S3, mask, checks)."""


def _warm_verdicts(warm: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Our seconds per object once warm (objects 2..N) against the reference's and the bare encode's."""
    if not warm:
        return []
    ours = warm["contenders"]["ours_warm"]
    out = []
    for other, limit, label in WARM_TARGETS:
        ratio = warm["ours_warm_vs"][other]
        out.append(
            verdict(
                f"small objects warm: {label}",
                ratio["median"] <= limit,
                f"ours {ours['per_object_s']:.2f} s per object = {ratio['median']:.2f}x {other} "
                f"({warm['contenders'][other]['per_object_s']:.2f} s); median of the rounds' ratios "
                f"{', '.join(f'{r:.2f}' for r in ratio['rounds'])}",
            )
        )
    return out


RATE_DISTORTION_TARGETS = (
    ("ours", None, "default: no larger than reference and SSIM no worse, on every image"),
    ("ours_target_ssim", 0.8, "TARGET_SSIM (JPEG): >= 20% smaller in total, SSIM no worse on every image"),
    ("ours_target_ssim_webp", 0.8, "TARGET_SSIM + WEBP: >= 20% smaller in total, SSIM no worse on every image"),
)
"""Encoder, its largest total size as a fraction of the reference's (None: no larger on each image), label."""


def _rate_distortion_verdicts(rd: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our encoders against the reference on the bundled imagery, as `RATE_DISTORTION_TARGETS` sets them."""
    if not rd:
        return []
    out = []
    images = sorted({r["image"] for r in rd})
    by = {(r["image"], r["encoder"]): r for r in rd}
    ref_total = sum(by[(i, "reference")]["bytes"] for i in images)
    for encoder, limit, label in RATE_DISTORTION_TARGETS:
        total = sum(by[(i, encoder)]["bytes"] for i in images)
        worse = [i for i in images if by[(i, encoder)]["ssim"] < by[(i, "reference")]["ssim"] - 1e-4]
        larger = [i for i in images if by[(i, encoder)]["bytes"] > by[(i, "reference")]["bytes"]]
        small_enough = not larger if limit is None else total <= ref_total * limit
        out.append(
            verdict(
                f"rate-distortion, {label}",
                small_enough and not worse,
                f"total {total / 1024:,.0f} KiB = {total / ref_total:.3f}x reference ({ref_total / 1024:,.0f} KiB); "
                f"SSIM below reference on {worse or 'none'}; larger on {larger or 'none'}",
            )
        )
    return out
