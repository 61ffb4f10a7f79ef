#!/usr/bin/env bash
# Installs everything the tests, the demo and `cdk synth` need on a fresh Debian 12 machine:
# Debian's GDAL with its headers, a virtual environment with the pinned Python packages and the GDAL
# bindings built against that GDAL (with NumPy, so gdal_array works), and the locked CDK CLI from npm.
# Safe to run again: each step is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
command -v gdal-config >/dev/null || missing+=(gdal-bin libgdal-dev)
command -v g++ >/dev/null || missing+=(g++)
command -v npm >/dev/null || missing+=(nodejs npm)
"$PYTHON" -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
# PostgreSQL 15 with PostGIS: the pgSTAC tests start their own server from it (tests/support/pgstac.py).
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || missing+=(postgresql-15-postgis-3)
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# Exactly the locked versions, each checked against its hash: what CI tested (scripts/lock_dev_requirements.sh
# regenerates the lock from requirements-dev.txt).
"${pip[@]}" install --require-hashes -r requirements-dev.lock

# The bindings must equal the system GDAL, and must be compiled against the NumPy already installed
# (build isolation would compile them without it, and `osgeo.gdal_array` would then fail to import).
gdal_version=$(gdal-config --version)
if ! "$VENV/bin/python" -c "import osgeo, osgeo.gdal_array; assert osgeo.__version__ == '$gdal_version'" 2>/dev/null; then
  echo "bootstrap: building the GDAL $gdal_version Python bindings"
  "${pip[@]}" install --no-build-isolation "gdal[numpy]==$gdal_version"
fi
"$VENV/bin/python" -c "import osgeo.gdal_array"

# This repository's own packages (the runtime, imagery_archive from lambda_src/, and the operator's command,
# imagery_archive_cli with its `imagery-archive` console script), editable.
"${pip[@]}" install --no-deps --no-build-isolation --editable .

# checkov in a virtualenv of its own (it pins an old boto3): the template tests run it offline.
CHECKOV_VENV=${CHECKOV_VENV:-.venv-checkov}
checkov_pin=$(grep -E '^checkov==' requirements-checkov.txt | cut -d= -f3)
if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$checkov_pin"; then
  echo "bootstrap: installing checkov $checkov_pin in $CHECKOV_VENV"
  [ -x "$CHECKOV_VENV/bin/python" ] || "$PYTHON" -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/python" -m pip --disable-pip-version-check -q install -r requirements-checkov.txt
fi

# The Node.js tools (the CDK CLI, s3rver) exactly as package-lock.json pins them, when node_modules doesn't
# already hold that lock. Debian 12's nodejs (18) satisfies package.json's `engines`; npm refuses another.
if ! cmp -s package-lock.json node_modules/.package-lock.json.installed; then
  echo "bootstrap: installing the CDK CLI and s3rver from package-lock.json (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error --engine-strict
  cp package-lock.json node_modules/.package-lock.json.installed
fi
echo "bootstrap: ready (GDAL $gdal_version, $("$VENV/bin/python" --version), CDK CLI $(node_modules/.bin/cdk --version 2>/dev/null), checkov $("$CHECKOV_VENV/bin/checkov" --version))"
