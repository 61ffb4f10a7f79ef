"""The Fargate-against-Lambda cost estimate in BENCHMARKS.md: its arithmetic, and the limits it reports."""

from __future__ import annotations

import pytest

from imagery_archive_cli.costs.scene_costs import ComputePrices, Sizing, fargate_cost, lambda_cost, main, scene_cost

PRICES, SIZING = ComputePrices(), Sizing()


def test_fargate_bills_the_tasks_vcpus_memory_and_storage_above_20_gb_per_second() -> None:
    hour = 4 * 0.04048 + 8 * 0.004445 + (200 * 1.073741824 - 20) * 0.000111
    assert fargate_cost(3600, PRICES, SIZING) == pytest.approx(hour)
    assert fargate_cost(10, PRICES, SIZING) == pytest.approx(hour / 60), "one minute at least"


def test_lambda_bills_gb_seconds_storage_and_the_request() -> None:
    assert lambda_cost(100, PRICES, SIZING) == pytest.approx(
        100 * 4 * 0.0000166667 + 100 * (SIZING.lambda_storage_gb - 0.5) * 0.0000000309 + 0.0000002
    )


def test_a_10_gb_scene_overflows_the_functions_tmp_and_a_50_gb_scene_its_15_minutes_too() -> None:
    ten, fifty = (scene_cost(size, 17.5, 100, PRICES, SIZING) for size in (10, 50))
    assert "/tmp" in ten.lambda_limit
    assert "time" not in ten.lambda_limit
    assert "/tmp" in fifty.lambda_limit
    assert "time" in fifty.lambda_limit
    assert fifty.fargate_seconds == pytest.approx(fifty.seconds + SIZING.job_start_seconds)
    assert scene_cost(1, 17.5, 100, PRICES, SIZING).lambda_limit == "", "a 1 GB scene fits the function"


def test_the_command_prints_both_sizes_with_the_prices(capsys) -> None:
    assert main(["--sizes-gb", "10,50"]) == 0
    out = capsys.readouterr().out
    assert "10 GB" in out
    assert "50 GB" in out
    assert "us-east-1" in out
