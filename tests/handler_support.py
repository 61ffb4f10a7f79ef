"""Reading the function's answer in tests, wherever the handler ran (in-process, or in its image via awslambdaric)."""

from __future__ import annotations


def outcomes(response: dict) -> dict[str, str]:
    """The handler's answer as {object: outcome}."""
    return {item["object"]: item["outcome"] for item in response["results"]}
