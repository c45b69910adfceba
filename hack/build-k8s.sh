#!/usr/bin/env bash
# Builds the local cluster's control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy, kubectl) from the
# pinned module in hack/k8s-build, into a cache folder keyed by that module's
# go.mod, go.sum and link flags. A second run with the same key is a no-op.
#
# CoreDNS (the cluster DNS) comes from its own module, hack/coredns-build, and
# lands in the same folder. It has its own key (its go.mod, go.sum and main.go,
# recorded in bin/coredns.key) so that changing it rebuilds only CoreDNS and
# the folder's name stays the control plane's key.
#
# Usage: hack/build-k8s.sh [CACHE_ROOT]   (default: $REDKUBE_CACHE or ./.cache)
# Prints the folder holding the binaries on its last line.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/k8s-build"
cache_root=${1:-${REDKUBE_CACHE:-$root/.cache}}
# The components report the pinned Kubernetes version (nodes show it as their
# kubelet version), read from the build module's go.mod.
kver=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$mod/go.mod")
kmajor=${kver#v}; kminor=${kmajor#*.}; kmajor=${kmajor%%.*}; kminor=${kminor%%.*}
vpkg=k8s.io/component-base/version
k8s_ldflags="-s -w -X $vpkg.gitVersion=$kver -X $vpkg.gitMajor=$kmajor -X $vpkg.gitMinor=$kminor -X $vpkg.gitTreeState=clean"
key=$( { cat "$mod/go.mod" "$mod/go.sum"; echo "$k8s_ldflags"; } | sha256sum | cut -c1-16)
out="$cache_root/k8s/$key"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl)

have_all() {
	for b in "${bins[@]}"; do [ -x "$out/bin/$b" ] || return 1; done
}

cdmod="$root/hack/coredns-build"
cdkey=$(cat "$cdmod/go.mod" "$cdmod/go.sum" "$cdmod/cmd/coredns/main.go" | sha256sum | cut -c1-16)
have_coredns() {
	[ -x "$out/bin/coredns" ] && [ "$(cat "$out/bin/coredns.key" 2>/dev/null)" = "$cdkey" ]
}
# One set of flags everywhere, so the Go build cache is reused.
export CGO_ENABLED=0
flags=(-trimpath -ldflags "-s -w")

build_coredns() {
	local start
	start=$(date +%s)
	echo "building CoreDNS into $out/bin" >&2
	(cd "$cdmod" && go build "${flags[@]}" -o "$out/bin/coredns.tmp" ./cmd/coredns)
	mv "$out/bin/coredns.tmp" "$out/bin/coredns"
	echo "$cdkey" >"$out/bin/coredns.key"
	echo "built CoreDNS in $(( $(date +%s) - start ))s" >&2
}

if have_all; then
	have_coredns || build_coredns
	echo "k8s binaries up to date ($key)" >&2
	echo "$out/bin"
	exit 0
fi

mkdir -p "$out/bin.tmp"
start=$(date +%s)
echo "building Kubernetes control plane into $out (cold builds take ~15 min on 2 cores)" >&2
cd "$mod"
go build -trimpath -ldflags "$k8s_ldflags" -o "$out/bin.tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kube-proxy \
	k8s.io/kubernetes/cmd/kubectl
go build "${flags[@]}" -o "$out/bin.tmp/etcd" go.etcd.io/etcd/server/v3
rm -rf "$out/bin"
mv "$out/bin.tmp" "$out/bin"
echo "built in $(( $(date +%s) - start ))s" >&2
build_coredns
echo "$out/bin"
