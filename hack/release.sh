#!/usr/bin/env bash
# Writes the release artifacts of the version in VERSION into dist/ (or
# OUT_DIR):
#   - redkube-$VERSION.yaml: the operator for `kubectl apply --server-side -f`,
#     in one file: the redkube-system namespace (config/manager/namespace.yaml),
#     the CRDs and everything the chart renders with its default values
#     (helm template --include-crds, release "redkube" in redkube-system);
#   - redkube-$VERSION.tgz: the packaged chart (helm package), for
#     `helm install redkube redkube-$VERSION.tgz`.
# helm is $REDKUBE_TOOLS_BIN/helm (hack/build-tools.sh; make release sets it).
#
# Usage: hack/release.sh [OUT_DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-$root/dist}
helm=${REDKUBE_TOOLS_BIN:?set REDKUBE_TOOLS_BIN to the folder hack/build-tools.sh prints}/helm
chart=charts/redkube
version=$(tr -d '[:space:]' <VERSION)
chart_version=$(awk '$1 == "version:" {print $2; exit}' "$chart/Chart.yaml")
if [ "$version" != "$chart_version" ]; then
	echo "the chart's version $chart_version is not VERSION $version: run make generate" >&2
	exit 1
fi

mkdir -p "$out"
manifest="$out/redkube-$version.yaml"
{
	echo "# redkube $version: the operator in namespace redkube-system, with its CRDs."
	echo "# Rendered by make release from charts/redkube with its default values."
	echo "# Install: kubectl apply --server-side -f redkube-$version.yaml"
	echo "---"
	cat config/manager/namespace.yaml
	"$helm" template redkube "$chart" --namespace redkube-system --include-crds
} >"$manifest.tmp"
mv "$manifest.tmp" "$manifest"
"$helm" package "$chart" --destination "$out" >/dev/null
echo "$manifest"
echo "$out/redkube-$version.tgz"
