"""STAC validation that never reaches the network: every JSON Schema comes from a local copy.

pystac validates with JSON Schemas it fetches by URL; it ships the core STAC 1.1.0 and GeoJSON
schemas itself (pystac-core), and this project keeps the schemas of the extensions its Items use in
`stac_schemas/` beside this module (source, commit and licence in its README). Any other schema is refused with
an error naming it, rather than fetched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
import pystac.validation
from pystac.validation.stac_validator import GetSchemaError, JsonSchemaSTACValidator

SCHEMA_DIR = Path(__file__).resolve().parent / "stac_schemas"
EXTENSION_SCHEMAS = {
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json": "projection-v2.0.0.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json": "raster-v1.1.0.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json": "file-v2.1.0.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json": "processing-v1.2.0.json",
}
"""Schema URI -> local file, for every extension an Item of this project declares."""


class OfflineSTACValidator(JsonSchemaSTACValidator):
    """pystac's JSON Schema validator with the local schemas preloaded and downloads refused."""

    def __init__(self) -> None:
        super().__init__()
        for uri, name in EXTENSION_SCHEMAS.items():
            self.schema_cache[uri] = json.loads((SCHEMA_DIR / name).read_text())

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            reason = ValueError(f"not among the local schemas (add it to {SCHEMA_DIR.name}/, see its README)")
            raise GetSchemaError(schema_uri, reason)
        return self.schema_cache[schema_uri]


def validate(stac: dict[str, Any], href: str | None = None) -> list[Any]:
    """Validate one STAC object (as a dict) against core and its extensions; raises STACValidationError."""
    return pystac.validation.validate_dict(stac, href=href, validator=OfflineSTACValidator())
