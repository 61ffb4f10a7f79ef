"""The module the image's CMD names (`handler.handler`); the function itself is `imagery_archive.function`."""

from imagery_archive.function import handler

__all__ = ["handler"]
