"""A real PostgreSQL with PostGIS, migrated to pgSTAC by pypgstac: started once per test session, stopped at the end.

Debian's packages (postgresql-15, postgresql-15-postgis-3; scripts/bootstrap.sh installs them). The server
runs from a temporary folder, on a free port of 127.0.0.1 and a socket in that folder, as the `postgres`
user when the tests run as root (`initdb` refuses root; CI runs as root), else as the current user.
Without the packages the tests that need it are skipped, naming what is missing; under CI=true that
is a failure, as for the container tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
DATABASE = "pgstac"
SERVER_USER = "postgres"


@dataclass(frozen=True)
class PgstacServer:
    """Where the test database listens."""

    host: str
    port: int
    user: str
    database: str

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


def _missing() -> str | None:
    if not (POSTGRES_BIN / "initdb").exists():
        return f"PostgreSQL 15 ({POSTGRES_BIN}/initdb; Debian package postgresql-15)"
    if not POSTGIS_CONTROL.exists():
        return f"PostGIS ({POSTGIS_CONTROL}; Debian package postgresql-15-postgis-3)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """`command` run as `postgres` when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], folder: Path) -> None:
    result = subprocess.run(_as_server_user(command), cwd=folder, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed ({result.returncode}): {result.stderr or result.stdout}")


@pytest.fixture(scope="session")
def pgstac_server() -> Iterator[PgstacServer]:
    """A migrated pgSTAC database on a private PostgreSQL server (see the module docstring)."""
    missing = _missing()
    if missing:
        message = f"no PostgreSQL/PostGIS for the pgSTAC tests: {missing} is missing (run scripts/bootstrap.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="imagery-archive-pgstac-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, SERVER_USER, SERVER_USER)
    data, port = folder / "data", _free_port()
    user = SERVER_USER if os.geteuid() == 0 else os.environ.get("USER", SERVER_USER)
    _run([str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8"], folder)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = str(POSTGRES_BIN / "pg_ctl")
    _run([pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "start"], folder)
    try:
        server = PgstacServer("127.0.0.1", port, user, DATABASE)
        _run([str(POSTGRES_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, DATABASE], folder)
        _migrate(server.dsn)
        yield server
    finally:
        _run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], folder)
        shutil.rmtree(folder, ignore_errors=True)


def _migrate(dsn: str) -> None:
    """pgSTAC's schema, as `pypgstac migrate` installs it."""
    from pypgstac.db import PgstacDB  # noqa: PLC0415 - a plugin of every test run, also where pgSTAC's client isn't
    from pypgstac.migrate import Migrate  # noqa: PLC0415

    with PgstacDB(dsn=dsn) as db:
        Migrate(db).run_migration()


@pytest.fixture
def pgstac_dsn(pgstac_server: PgstacServer) -> str:
    """The session's database, emptied of Items and Collections before each test."""
    from pypgstac.db import PgstacDB  # noqa: PLC0415

    with PgstacDB(dsn=pgstac_server.dsn) as db:
        db.connect().execute("DELETE FROM items; DELETE FROM collections;")
    return pgstac_server.dsn
