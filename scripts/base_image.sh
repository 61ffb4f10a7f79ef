#!/usr/bin/env bash
# The base image the function's image is built on, for the container tests (and anyone without a registry).
#
#   scripts/base_image.sh      prints two tab-separated fields on stdout: the image reference, and which base
#                              it is (for the test output); progress goes to stderr
#
# 1. The pinned base of lambda_src/Dockerfile (`ARG BASE_IMAGE=...`, the OSGeo GDAL image), if Docker has it
#    or can pull it: what ships.
# 2. Otherwise (an offline machine, no registry) a stand-in made from Debian's own packages with the same
#    GDAL minor version: Debian `trixie` (13) has GDAL 3.10 for its whole life. mmdebstrap builds its root
#    file system and `docker import` makes it an image. The tarball is cached in
#    ${IMAGERY_ARCHIVE_CACHE:-~/.cache/imagery-archive} for a week (only to save the minute it takes; it is
#    rebuilt whenever it is missing).
# Either way the script checks that the image's GDAL has the pinned minor version before naming it.
set -euo pipefail
cd "$(dirname "$0")/.."

pinned=$(sed -n 's/^ARG BASE_IMAGE=//p' lambda_src/Dockerfile)
[ -n "$pinned" ] || { echo "base_image: no 'ARG BASE_IMAGE=' default in lambda_src/Dockerfile" >&2; exit 1; }
gdal_minor=$(sed -E 's/.*[^0-9]([0-9]+\.[0-9]+)\.[0-9]+$/\1/' <<<"$pinned")
suite=${STANDIN_SUITE:-trixie}
packages=python3,python3-gdal,python3-numpy,ca-certificates
standin="imagery-archive-base:debian-$suite-gdal-$gdal_minor"
cache=${IMAGERY_ARCHIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagery-archive}

gdal_of() {
  docker run --rm --network host --entrypoint python3 "$1" -c \
    "import sys, numpy; from osgeo import gdal; print(gdal.__version__, sys.version.split()[0], numpy.__version__)"
}

check_and_print() {
  local image=$1 description=$2 versions
  versions=$(gdal_of "$image") || { echo "base_image: $image has no working GDAL Python bindings" >&2; exit 1; }
  read -r gdal python numpy <<<"$versions"
  if [[ "$gdal" != "$gdal_minor".* ]]; then
    echo "base_image: $image has GDAL $gdal, the pinned base has GDAL $gdal_minor" >&2
    exit 1
  fi
  printf '%s\t%s (GDAL %s, Python %s, NumPy %s)\n' "$image" "$description" "$gdal" "$python" "$numpy"
}

if docker image inspect "$pinned" >/dev/null 2>&1 || timeout 600 docker pull -q "$pinned" >&2 2>/dev/null; then
  check_and_print "$pinned" "the pinned base $pinned"
  exit 0
fi
echo "base_image: $pinned can't be pulled; using a stand-in built from Debian $suite's packages" >&2
why="stand-in $standin built from Debian $suite's packages with mmdebstrap ($pinned could not be pulled)"
if docker image inspect "$standin" >/dev/null 2>&1; then
  check_and_print "$standin" "$why"
  exit 0
fi

command -v mmdebstrap >/dev/null || { echo "base_image: mmdebstrap is needed (apt-get install mmdebstrap)" >&2; exit 1; }
tarball="$cache/$suite-$(sha256sum <<<"$packages" | cut -c1-12).tar"
if [ -n "$(find "$tarball" -mtime -7 2>/dev/null)" ]; then
  echo "base_image: using the cached root file system $tarball" >&2
else
  mkdir -p "$cache"
  echo "base_image: mmdebstrap $suite ($packages), about a minute" >&2
  # No documentation, manual pages or translations: nothing in the function reads them.
  mmdebstrap --quiet --format=tar --variant=apt --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$suite" "$tarball.partial" >&2
  mv "$tarball.partial" "$tarball"
fi
docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' "$tarball" "$standin" >/dev/null
check_and_print "$standin" "$why"
