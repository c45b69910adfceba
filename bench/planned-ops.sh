#!/usr/bin/env bash
# Benchmark: every planned operation of a RedisCluster (rolling update of
# config, image and resources; scale out and in; replicasPerMaster up and
# down) under a continuous go-redis writer, several runs each, on the local
# Kubernetes with the manager as a process. Prints per operation the worst
# gap between two acknowledged writes, the write errors, the acknowledged
# writes lost and the time to Ready (test/chaos BenchmarkPlannedOperations,
# in the chaos suite's environment).
#
# Usage (as root, from anywhere in the repo):
#   bench/planned-ops.sh              # 3 runs, about 15 minutes
#   REDKUBE_PLANNED_RUNS=5 bench/planned-ops.sh
#   REDKUBE_PLANNED_OPS=scale bench/planned-ops.sh   # only the operations named so
set -euo pipefail

cd "$(dirname "$0")/.."
if [ -z "${REDKUBE_K8S_BIN:-}" ]; then
	REDKUBE_K8S_BIN=$(hack/build-k8s.sh | tail -1)
fi
export REDKUBE_K8S_BIN
go test -count=1 -timeout 120m -run '^$' -bench 'PlannedOperations$' -benchtime 1x -v ./test/chaos/
