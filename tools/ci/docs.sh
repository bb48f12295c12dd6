#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds fev's reference documentation (HTML) with doxygen; any doxygen warning fails it.
#
#   tools/ci/docs.sh [OUTPUT_DIR]      # from anywhere; default <repo>/build-docs
#
# The HTML lands in OUTPUT_DIR/html. Exit status: 0 when doxygen ran without a warning,
# 1 on a warning or error, 77 when doxygen is not installed (tools/install-deps installs it).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$root/build-docs"}
case "$out" in /*) ;; *) out="$(pwd)/$out" ;; esac

if ! command -v doxygen >/dev/null 2>&1; then
  echo "docs.sh: SKIP: doxygen is not installed (tools/install-deps installs it)" >&2
  exit 77
fi

mkdir -p "$out"
cd "$root"
# WARN_AS_ERROR=FAIL_ON_WARNINGS in docs/Doxyfile: doxygen prints every warning, then exits
# nonzero. An undocumented public name is a warning (WARN_IF_UNDOCUMENTED=YES).
if FEV_DOCS_OUT="$out" doxygen docs/Doxyfile; then
  echo "docs.sh: HTML in $out/html/index.html"
else
  echo "docs.sh: doxygen reported warnings (see above)" >&2
  exit 1
fi
