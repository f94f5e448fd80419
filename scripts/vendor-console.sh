#!/usr/bin/env bash
# Vendors the web console's third-party parts from the npm registry (pinned), so the console needs no CDN and no
# build step: uPlot (charts) into click2call/http/static/console/vendor/uplot/, and axe-core (the browser tests'
# accessibility check, never served) into tests/browser/vendor/axe-core/. Each with its LICENSE and VERSION.
#
#   ./scripts/vendor-console.sh [UPLOT_VERSION [AXE_VERSION]]    # default: the pinned versions; commit the result
set -euo pipefail
UPLOT="${1:-1.6.32}"
AXE="${2:-4.14.1}"
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # npm package, version -> its files unpacked under $work/<package>/
  mkdir -p "$work/$1"
  (cd "$work/$1" && npm pack --silent "$1@$2" >/dev/null && tar -xzf ./*.tgz)
}

fetch uplot "$UPLOT"
dest="$root/click2call/http/static/console/vendor/uplot"
rm -rf "$dest" && mkdir -p "$dest"
# The ES module build (imported by the pages) and its stylesheet; the LICENSE (MIT).
cp "$work/uplot/package/dist/uPlot.esm.js" "$work/uplot/package/dist/uPlot.min.css" "$work/uplot/package/LICENSE" "$dest/"
sed -i '/sourceMappingURL=/d' "$dest/uPlot.esm.js" "$dest/uPlot.min.css"
echo "$UPLOT" > "$dest/VERSION"

fetch axe-core "$AXE"
dest="$root/tests/browser/vendor/axe-core"
rm -rf "$dest" && mkdir -p "$dest"
cp "$work/axe-core/package/axe.min.js" "$work/axe-core/package/LICENSE" "$dest/"
[ -f "$work/axe-core/package/LICENSE-3RD-PARTY.txt" ] && cp "$work/axe-core/package/LICENSE-3RD-PARTY.txt" "$dest/"
echo "$AXE" > "$dest/VERSION"
ls -l "$root/click2call/http/static/console/vendor/uplot" "$dest"
