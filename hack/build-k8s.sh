#!/usr/bin/env bash
# Builds the local cluster's control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy, kubectl) from the
# pinned module in hack/k8s-build, into a cache folder keyed by that module's
# go.sum. A second run with the same go.sum is a no-op.
#
# Usage: hack/build-k8s.sh [CACHE_ROOT]   (default: $REDKUBE_CACHE or ./.cache)
# Prints the folder holding the binaries on its last line.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/k8s-build"
cache_root=${1:-${REDKUBE_CACHE:-$root/.cache}}
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-16)
out="$cache_root/k8s/$key"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl)

have_all() {
	for b in "${bins[@]}"; do [ -x "$out/bin/$b" ] || return 1; done
}

if have_all; then
	echo "k8s binaries up to date ($key)" >&2
	echo "$out/bin"
	exit 0
fi

mkdir -p "$out/bin.tmp"
start=$(date +%s)
echo "building Kubernetes control plane into $out (cold builds take ~15 min on 2 cores)" >&2
# One set of flags everywhere, so the Go build cache is reused.
export CGO_ENABLED=0
flags=(-trimpath -ldflags "-s -w")
cd "$mod"
go build "${flags[@]}" -o "$out/bin.tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kube-proxy \
	k8s.io/kubernetes/cmd/kubectl
go build "${flags[@]}" -o "$out/bin.tmp/etcd" go.etcd.io/etcd/server/v3
rm -rf "$out/bin"
mv "$out/bin.tmp" "$out/bin"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out/bin"
