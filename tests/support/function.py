"""The Lambda function in tests: built as its cold start builds it, and its answer read as {object: outcome}."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from imagery_archive.entrypoints.pipeline import LambdaHandler, Pipeline, lambda_handler


@dataclass(frozen=True)
class ColdStart:
    """A pipeline built from the environment and the Lambda handler wired to it, as the image's CMD gets it."""

    pipeline: Pipeline
    handler: LambdaHandler


def cold_start(monkeypatch: pytest.MonkeyPatch, **env: str) -> ColdStart:
    """The function as a cold start with `env` as its environment builds it (no module is re-imported)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ImageryArchiveTests")
    pipeline = Pipeline.from_env()
    return ColdStart(pipeline, lambda_handler(pipeline))


def outcomes(response: dict) -> dict[str, str]:
    """The handler's answer as {object: outcome}, wherever the handler ran (in-process, or in its image)."""
    return {item["object"]: item["outcome"] for item in response["results"]}
