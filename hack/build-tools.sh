#!/usr/bin/env bash
# Builds the pinned developer tools the chart and monitoring tests use (helm
# from helm.sh/helm/v4, promtool from github.com/prometheus/prometheus) from
# the build module in hack/tools-build, into a cache folder keyed by that
# module's go.mod and go.sum and the build flags. A second run with the same
# key is a no-op.
#
# Usage: hack/build-tools.sh [CACHE_ROOT]   (default: $REDKUBE_CACHE or ./.cache)
# Prints the folder holding the binaries on its last line.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/tools-build"
cache_root=${1:-${REDKUBE_CACHE:-$root/.cache}}
helm_version=$(awk '$1 == "helm.sh/helm/v4" {print $2; exit}' "$mod/go.mod")
prom_version=$(awk '$1 == "github.com/prometheus/prometheus" {print $2; exit}' "$mod/go.mod")
# promtool without the service-discovery plugins (cloud SDKs): rule tests
# need none of them, and the cold build is minutes shorter.
tags=remove_all_sd
helm_ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version"
prom_ldflags="-s -w -X github.com/prometheus/common/version.Version=$prom_version"
key=$( { cat "$mod/go.mod" "$mod/go.sum"; echo "$tags $helm_ldflags $prom_ldflags"; } | sha256sum | cut -c1-16)
out="$cache_root/tools/$key"

if [ -x "$out/bin/helm" ] && [ -x "$out/bin/promtool" ]; then
	echo "tools up to date ($key)" >&2
	echo "$out/bin"
	exit 0
fi

mkdir -p "$out/bin.tmp"
start=$(date +%s)
echo "building helm $helm_version and promtool $prom_version into $out (cold builds take a few minutes)" >&2
cd "$mod"
export CGO_ENABLED=0
go build -trimpath -ldflags "$helm_ldflags" -o "$out/bin.tmp/helm" helm.sh/helm/v4/cmd/helm
go build -trimpath -tags "$tags" -ldflags "$prom_ldflags" -o "$out/bin.tmp/promtool" github.com/prometheus/prometheus/cmd/promtool
rm -rf "$out/bin"
mv "$out/bin.tmp" "$out/bin"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out/bin"
