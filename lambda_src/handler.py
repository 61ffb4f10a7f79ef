"""The module the image's CMD names (`handler.handler`).

The function is `imagery_archive.entrypoints.lambda_function`.
"""

from imagery_archive.entrypoints.lambda_function import handler

__all__ = ["handler"]
