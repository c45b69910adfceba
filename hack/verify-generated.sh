#!/usr/bin/env bash
# Fails when the generated deepcopy code, CEL rules on spec.config and
# docs/configuration.md, CRDs, RBAC role, the chart's
# generated files (CRDs, split rules) or the version stamped into the chart
# and config/manager are stale: copies the inputs to a temporary tree,
# regenerates there with hack/generate.sh and diffs against the committed
# files.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Copy the working tree (without caches and build output) so generation in
# the copy sees exactly the sources it would see here.
(cd "$repo" && tar --exclude=./.cache --exclude=./.git --exclude=./bin --exclude=./dist -cf - .) | tar -xf - -C "$tmp"

"$repo/hack/generate.sh" "$tmp"

status=0
for d in api config charts docs; do
	if ! diff -ru "$repo/$d" "$tmp/$d"; then status=1; fi
done
if ((status)); then
	echo "generated files are stale: run hack/generate.sh (make generate) and commit the result" >&2
fi
exit $status
