#!/usr/bin/env bash
# Vendors Swagger UI (the npm package swagger-ui-dist, pinned) into click2call/http/static/swagger-ui/: only the
# files /docs serves (the bundle and its stylesheet) and the licences. /docs then works with no internet access.
#
#   ./scripts/vendor-swagger-ui.sh [VERSION]      # default: the pinned version below; commit the result
set -euo pipefail
VERSION="${1:-5.35.0}"
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/click2call/http/static/swagger-ui"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null && tar -xzf "swagger-ui-dist-$VERSION.tgz")
mkdir -p "$dest"
# The licence, its NOTICE, and the licences of what the bundle holds.
cp "$work/package/swagger-ui.css" "$work/package/LICENSE" "$work/package/NOTICE" \
   "$work/package/swagger-ui-bundle.js.LICENSE.txt" "$dest/"
# Without its source-map comment: the map is not shipped, and a browser's developer tools would ask for it.
sed '/^\/\/# sourceMappingURL=/d' "$work/package/swagger-ui-bundle.js" > "$dest/swagger-ui-bundle.js"
sed -i '/sourceMappingURL=/d' "$dest/swagger-ui.css"
echo "$VERSION" > "$dest/VERSION"
ls -l "$dest"
