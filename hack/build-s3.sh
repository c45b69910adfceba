#!/usr/bin/env bash
# Builds SeaweedFS's weed binary (Apache-2.0; its S3 gateway is the real
# S3-compatible server the backup tests run on loopback) from the build module
# in hack/s3-build, into a cache folder keyed by that module's go.mod and
# go.sum and the build flags. A second run with the same key is a no-op.
#
# A separate build module from hack/tools-build: weed's dependency graph
# (cloud SDKs, gRPC, databases) is large and must not move the helm and
# prometheus pins there. MinIO's server is AGPL and is not used.
#
# Usage: hack/build-s3.sh [CACHE_ROOT]   (default: $REDKUBE_CACHE or ./.cache)
# Prints the folder holding the binary on its last line.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/s3-build"
cache_root=${1:-${REDKUBE_CACHE:-$root/.cache}}
weed_version=$(awk '{for (i = 1; i < NF; i++) if ($i == "github.com/seaweedfs/seaweedfs") {print $(i + 1); exit}}' "$mod/go.mod")
ldflags="-s -w"
key=$( { cat "$mod/go.mod" "$mod/go.sum"; echo "$ldflags"; } | sha256sum | cut -c1-16)
out="$cache_root/s3/$key"

if [ -x "$out/bin/weed" ]; then
	echo "weed up to date ($key)" >&2
	echo "$out/bin"
	exit 0
fi

mkdir -p "$out/bin.tmp"
start=$(date +%s)
echo "building weed $weed_version into $out (a cold build takes several minutes)" >&2
cd "$mod"
export CGO_ENABLED=0
go build -trimpath -ldflags "$ldflags" -o "$out/bin.tmp/weed" github.com/seaweedfs/seaweedfs/weed
rm -rf "$out/bin"
mv "$out/bin.tmp" "$out/bin"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out/bin"
