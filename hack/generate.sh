#!/usr/bin/env bash
# Regenerates the code and manifests derived from kubebuilder markers:
#   - api/v1alpha1/zz_generated.configrules.go and docs/configuration.md
#                                          (hack/configgen, from the table
#                                           of allowed redis.conf directives;
#                                           first, as the CRD needs it)
#   - api/**/zz_generated.deepcopy.go      (controller-gen object)
#   - config/crd/bases/*.yaml              (controller-gen crd, from api/)
#   - config/rbac/role.yaml                (controller-gen rbac, from the
#                                           +kubebuilder:rbac markers in
#                                           internal/controller)
#   - charts/redkube/crds/                 (a copy of config/crd/bases)
#   - charts/redkube/files/manager-rules.yaml
#                                          (role.yaml's rules split into
#                                           namespaced and cluster-scoped,
#                                           hack/chartrules)
#   - the version: charts/redkube/Chart.yaml's version and appVersion, and
#     the image tag of config/manager/kustomization.yaml and the manager's
#     --exporter-image in config/manager/manager.yaml, from VERSION
# Usage: hack/generate.sh [output-root]   (default: the repository root;
# hack/verify-generated.sh passes a temporary copy).
set -euo pipefail

CONTROLLER_GEN_VERSION=v0.23.0
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$root"

cg() { go run "sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_GEN_VERSION}" "$@"; }

go run ./hack/configgen -root .
cg object paths=./api/...
cg crd:allowDangerousTypes=false paths=./api/... output:crd:artifacts:config=config/crd/bases

rbac_paths=()
for p in ./internal/controller; do
	if compgen -G "$p/*.go" >/dev/null; then rbac_paths+=("paths=$p/..."); fi
done
if ((${#rbac_paths[@]})); then
	cg rbac:roleName=redkube-manager-role "${rbac_paths[@]}" output:rbac:artifacts:config=config/rbac
fi

# The Helm chart: the CRDs, the manager's rules split by scope, and the
# version.
chart=charts/redkube
rm -f "$chart"/crds/*.yaml
mkdir -p "$chart/crds" "$chart/files"
cp config/crd/bases/*.yaml "$chart/crds/"
go run ./hack/chartrules -role config/rbac/role.yaml -crds config/crd/bases -out "$chart/files/manager-rules.yaml"

version=$(tr -d '[:space:]' <VERSION)
# The chart's version must be SemVer 2 and the image tag is the same string,
# so no build metadata ("+" is not allowed in an image tag).
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "VERSION \"$version\" is not a SemVer 2 version without build metadata" >&2
	exit 1
fi
sed -i -E "s/^version: .*/version: $version/; s/^appVersion: .*/appVersion: \"$version\"/" "$chart/Chart.yaml"
sed -i -E "s/^(  newTag: ).*/\1\"$version\"/" config/manager/kustomization.yaml
# The exporter sidecar's image is the operator image (it holds
# /redkube-exporter); kustomize's images: cannot rewrite an argument.
sed -i -E "s|^(        - --exporter-image=ghcr.io/redkube/redkube-operator:).*|\1$version|" config/manager/manager.yaml
