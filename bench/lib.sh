# shellcheck shell=bash
# Shared by the operator benchmarks' wrappers (bench/operator.sh,
# bench/manager-mem.sh); sourced, not run.

# bench_build NAME PKG goes to the repository's root, makes a temporary
# folder WORK (/tmp/NAME-bin.*, removed on exit), exports REDKUBE_K8S_BIN
# and REDKUBE_TOOLS_BIN (hack/build-k8s.sh's and hack/build-tools.sh's
# folders unless set) and builds the manager
# into $WORK/manager and the benchmark package PKG into $WORK/NAME.
bench_build() {
	local name=$1 pkg=$2
	cd "$(dirname "${BASH_SOURCE[0]}")/.."
	WORK=$(mktemp -d "/tmp/$name-bin.XXXXXX")
	# The manager pods run the binaries in it as user 65532.
	chmod 755 "$WORK"
	trap 'rm -rf "$WORK"' EXIT

	if [ -z "${REDKUBE_K8S_BIN:-}" ]; then
		REDKUBE_K8S_BIN=$(hack/build-k8s.sh | tail -1)
	fi
	export REDKUBE_K8S_BIN
	if [ -z "${REDKUBE_TOOLS_BIN:-}" ]; then
		REDKUBE_TOOLS_BIN=$(hack/build-tools.sh | tail -1)
	fi
	export REDKUBE_TOOLS_BIN

	echo "building the manager and the benchmark into $WORK" >&2
	go build -o "$WORK/manager" ./cmd/manager
	go build -o "$WORK/$name" "$pkg"
}
