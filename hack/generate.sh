#!/usr/bin/env bash
# Regenerates the code and manifests derived from kubebuilder markers:
#   - api/**/zz_generated.deepcopy.go      (controller-gen object)
#   - config/crd/bases/*.yaml              (controller-gen crd, from api/)
#   - config/rbac/role.yaml                (controller-gen rbac, from the
#                                           +kubebuilder:rbac markers in
#                                           internal/controller)
# Usage: hack/generate.sh [output-root]   (default: the repository root;
# hack/verify-generated.sh passes a temporary copy).
set -euo pipefail

CONTROLLER_GEN_VERSION=v0.23.0
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$root"

cg() { go run "sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_GEN_VERSION}" "$@"; }

cg object paths=./api/...
cg crd:allowDangerousTypes=false paths=./api/... output:crd:artifacts:config=config/crd/bases

rbac_paths=()
for p in ./internal/controller; do
	if compgen -G "$p/*.go" >/dev/null; then rbac_paths+=("paths=$p/..."); fi
done
if ((${#rbac_paths[@]})); then
	cg rbac:roleName=redkube-manager-role "${rbac_paths[@]}" output:rbac:artifacts:config=config/rbac
fi
