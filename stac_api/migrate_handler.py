"""The database set-up Lambda: a CloudFormation custom resource that runs pypgstac's migrations.

On Create and Update it installs or upgrades pgSTAC's schema (PostGIS included) to the version of the
pinned pypgstac; Delete leaves the database alone (it is deleted, or kept, with its instance).
"""

from __future__ import annotations

from typing import Any

from pypgstac.db import PgstacDB
from pypgstac.migrate import Migrate

from stac_api.settings import DatabaseSettings


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    """CDK Provider framework handler: returns the migrated version as the resource's attribute."""
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", "pgstac")}
    with PgstacDB(dsn=DatabaseSettings.from_env().dsn) as db:
        version = Migrate(db).run_migration()
    return {"PhysicalResourceId": "pgstac", "Data": {"Version": version}}
