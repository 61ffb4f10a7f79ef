"""The STAC API Lambda: stac-fastapi-pgstac's ASGI app behind Mangum (API Gateway HTTP API events).

The app is built at cold start with the database credentials from the secret; read-only (no
transaction endpoints): Items reach pgSTAC only through the loader.
"""

from __future__ import annotations

import os

from mangum import Mangum
from stac_fastapi.pgstac.app import instantiate_api

from stac_api.settings import DatabaseSettings

os.environ.update(DatabaseSettings.from_env().as_libpq_environment())
app = instantiate_api().app
TEXT_MEDIA_TYPES = ["application/json", "application/geo+json", "application/schema+json", "text/html"]
"""Answered as text, not base64 (Mangum's default list lacks GeoJSON, the type of every search result)."""
handler = Mangum(app, lifespan="auto", text_mime_types=TEXT_MEDIA_TYPES)
