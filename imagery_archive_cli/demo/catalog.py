"""The demo's STAC part: one Item as the function wrote it, and the catalog of all of them in a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imagery_archive_cli.catalogue.catalog import CATALOG_FILE, build_catalog

EXAMPLE_ITEM = "output/scenes/RGB.byte.json"


def stac_report(client: Any, bucket: str, out_dir: Path) -> str:
    """Build the catalog of every Item under output/ into `out_dir`, and show one Item (geometry abridged)."""
    run = build_catalog(client, bucket, "output/", out_dir)
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket, Prefix="output/").get("Contents", [])]
    example = EXAMPLE_ITEM if EXAMPLE_ITEM in keys else next(key for key in keys if key.endswith(".json"))
    item = json.loads(client.get_object(Bucket=bucket, Key=example)["Body"].read())
    geometry = item.get("geometry")
    if geometry:
        rings = geometry["coordinates"] if geometry["type"] == "Polygon" else [p[0] for p in geometry["coordinates"]]
        item["geometry"] = f"<{geometry['type']} of {sum(len(ring) for ring in rings)} points>"
    missing = f", {len(run.cogs_without_item)} COG(s) WITHOUT one" if run.cogs_without_item else ""
    return "\n".join(
        [
            "",
            f"STAC: every COG has a valid Item and a thumbnail beside it ({run.items} Items{missing}). "
            f"s3://{bucket}/{example}:",
            json.dumps(item, indent=1),
            f"Static catalog of all of them (validated offline): {out_dir / CATALOG_FILE} (see docs/catalogue.md)",
        ]
    )
