#!/usr/bin/env bash
# Build lcc/bundle/: the hpk8s wheel plus every dependency as wheels for the HyperPod instances
# (Linux x86_64, CPython 3.11 by default), so on_create.sh installs hpk8s with no package index.
#
#   lcc/build-bundle.sh                    # on any machine with Python >= 3.11 and pip
#   PY_VERSION=3.12 lcc/build-bundle.sh    # if the instances' Python is 3.12
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=lcc/bundle
PY_VERSION="${PY_VERSION:-3.11}"
ARCH="${ARCH:-x86_64}"
PYTHON="${PYTHON:-python3}"

rm -rf "$OUT"
mkdir -p "$OUT"
# Our own package: pure Python, built here.
"$PYTHON" -m pip wheel -q --no-deps -w "$OUT" .
# Its dependencies: binary wheels for the instances' platform, whatever this machine is.
"$PYTHON" -m pip download -q -d "$OUT" --only-binary=:all: --implementation cp --python-version "$PY_VERSION" \
  --platform "manylinux2014_$ARCH" --platform "manylinux_2_28_$ARCH" --platform "manylinux_2_17_$ARCH" \
  --platform "linux_$ARCH" "$OUT"/hyperpod_k8s-*.whl
echo "bundle: $(ls "$OUT" | wc -l) wheels in $OUT ($(du -sh "$OUT" | cut -f1)); upload lcc/ as described in lcc/README.md"
