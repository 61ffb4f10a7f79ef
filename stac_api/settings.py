"""The STAC API's and the loader's settings, read once from their environment (the stack sets them).

The database credentials are a Secrets Manager secret in the stack (RDS's own JSON: host, port,
username, password, dbname), read at cold start through the VPC's Secrets Manager endpoint;
`PGSTAC_DSN` is taken instead where it is set (local runs, tests).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import boto3
from psycopg.conninfo import conninfo_to_dict


@dataclass(frozen=True)
class DatabaseSettings:
    """Where pgSTAC is, and as whom to connect."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def dsn(self) -> str:
        return f"postgresql://{quote(self.user)}:{quote(self.password)}@{self.host}:{self.port}/{self.database}"

    def as_libpq_environment(self) -> dict[str, str]:
        """The PG* variables stac-fastapi-pgstac's settings read."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.database,
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, secrets: Any = None) -> DatabaseSettings:
        """From `PGSTAC_SECRET_ARN` (an RDS secret), else `PGSTAC_DSN`; `ValueError` naming what is missing."""
        env = os.environ if environ is None else environ
        if env.get("PGSTAC_SECRET_ARN"):
            client = secrets or boto3.client("secretsmanager")
            secret = json.loads(client.get_secret_value(SecretId=env["PGSTAC_SECRET_ARN"])["SecretString"])
            return cls(secret["host"], int(secret["port"]), secret["username"], secret["password"], secret["dbname"])
        if env.get("PGSTAC_DSN"):
            parts = conninfo_to_dict(env["PGSTAC_DSN"])
            return cls(
                str(parts.get("host", "localhost")),
                int(str(parts.get("port", 5432))),
                str(parts.get("user", "postgres")),
                str(parts.get("password", "")),
                str(parts.get("dbname", "postgres")),
            )
        raise ValueError("PGSTAC_SECRET_ARN (the database secret) or PGSTAC_DSN is required")


@dataclass(frozen=True)
class LoaderSettings:
    """The loader's: the database, and where the function writes its Items."""

    database: DatabaseSettings
    output_prefix: str = "output/"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LoaderSettings:
        env = os.environ if environ is None else environ
        prefix = env.get("OUTPUT_PREFIX", cls.output_prefix)
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise ValueError(f"OUTPUT_PREFIX must be a key prefix ending in '/', got {prefix!r}")
        return cls(DatabaseSettings.from_env(env), prefix)
