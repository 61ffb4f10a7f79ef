"""The Lambda function (the image's `handler.handler`): the pipeline built once, at cold start.

`Pipeline.from_env()` reads and checks the settings and configures GDAL here, at import, so a misconfigured
function fails before it touches any object; what the handler does with each event is `pipeline.Pipeline`'s.
"""

from imagery_archive.entrypoints.pipeline import Pipeline, lambda_handler

PIPELINE = Pipeline.from_env()
handler = lambda_handler(PIPELINE)
