#!/usr/bin/env bash
# Benchmark: the RedisCluster operator against the tutorial's StatefulSet
# bootstrapped by hand (rcctl create), side by side on one local Kubernetes
# (3 nodes, real redis-server pods). Measures create → Ready, a master pod
# deleted gracefully and forcibly under a go-redis writer, a node stopped
# without warning, and the manager's memory and writes per healthy
# reconcile. Prints one table; see bench/operator/doc.go and
# docs/design/2026-11-25-operator.md ("Measured").
#
# Usage (as root, from anywhere in the repo):
#   bench/operator.sh                      # binaries from hack/build-k8s.sh
#   REDKUBE_K8S_BIN=<dir> bench/operator.sh -idle 95s
# Extra arguments go to the benchmark program (-idle, -v).
# Takes about 5-8 minutes. Everything it starts is stopped on exit.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_build operator-bench ./bench/operator
"$WORK/operator-bench" -manager "$WORK/manager" -crd config/crd/bases -tutorial test/e2e/testdata/tutorial "$@"
