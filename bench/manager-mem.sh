#!/usr/bin/env bash
# Benchmark: the manager's resident memory while it manages three 3x1
# RedisClusters on a local Kubernetes (create → Ready, one pod of each
# deleted → Ready again, idle). Prints the peak RSS per phase, the RSS at
# the end, VmHWM and the Go runtime's figures; see
# docs/design/2026-11-25-manager-memory.md.
#
# Usage (as root, from anywhere in the repo; ~2 minutes):
#   bench/manager-mem.sh                       # the manager's defaults
#   GOMEMLIMIT=off bench/manager-mem.sh        # the manager's env is this one's
#   bench/manager-mem.sh -manager-args '--memory-limit=0' -idle 90s -heap-profile /tmp/heap.pb.gz
# Only one local Kubernetes may run at a time: check `pgrep -f kube-apiserver`.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_build manager-mem ./bench/manager-mem
"$WORK/manager-mem" -manager "$WORK/manager" -crd config/crd/bases "$@"
