#!/usr/bin/env bash
# Vendor a pinned htmx 2.x build into the dashboard's static folder.
#
# Usage: scripts/update_htmx.sh 2.0.11
# Fetches the `htmx.org` package with `npm pack` (the npm registry is the only
# source), copies dist/htmx.min.js with a licence header line and the package's
# LICENSE next to it. The dashboard serves the files under a content-hashed URL,
# so browsers pick up the new version on the next page load.
set -euo pipefail

version="${1:-}"
if [[ ! "$version" =~ ^2\.[0-9]+\.[0-9]+$ ]]; then
    echo "usage: $0 VERSION   (an htmx 2.x version such as 2.0.11)" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$here/fastapi_flare/static/flare"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "htmx.org@$version" >/dev/null)
tar -xzf "$work/htmx.org-$version.tgz" -C "$work"

packed_version="$(node -p "require('$work/package/package.json').version")"
if [[ "$packed_version" != "$version" ]]; then
    echo "expected htmx $version, the package says $packed_version" >&2
    exit 1
fi

{
    printf '/*! htmx %s | Zero-Clause BSD licence (0BSD), full text in htmx.LICENSE */\n' "$version"
    cat "$work/package/dist/htmx.min.js"
} >"$dest/htmx.min.js"
cp "$work/package/LICENSE" "$dest/htmx.LICENSE"
echo "vendored htmx $version into $dest"
