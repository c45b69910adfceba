#!/usr/bin/env bash
# The README's run command (`make run`): the whole tutorial as one resource.
#
#   1. starts the local Kubernetes (bin/localkube up: real etcd, API server,
#      controller manager, scheduler; pods run as processes),
#   2. installs the operator with its Helm chart (charts/redkube: CRD, RBAC,
#      two manager pods with leader election; the node agent runs the
#      operator image as bin/manager),
#   3. applies config/samples (the tutorial's 3 masters x 1 replica),
#   4. waits for Ready, prints `kubectl get redisclusters` and how to reach
#      the cluster with redis-cli,
#   5. leaves everything running until Ctrl-C, then stops and removes it all.
#
# Expects bin/ to be built (make build), REDKUBE_K8S_BIN to point at the
# control-plane binaries and REDKUBE_TOOLS_BIN at helm's folder (make run
# does all three).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${REDKUBE_K8S_BIN:?set REDKUBE_K8S_BIN (make run does)}"
: "${REDKUBE_TOOLS_BIN:?set REDKUBE_TOOLS_BIN (make run does)}"
state=${REDKUBE_DEMO_STATE:-$(mktemp -d /tmp/redkube-demo.XXXXXX)}
kubectl="$REDKUBE_K8S_BIN/kubectl"
helm="$REDKUBE_TOOLS_BIN/helm"
sample=config/samples/redis_v1alpha1_rediscluster.yaml
name=$(awk '/^  name:/ {print $2; exit}' "$sample")
pids=()

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

cleanup() {
	trap - EXIT INT TERM
	say "stopping"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -INT "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	rm -rf "$state"
}
trap cleanup EXIT INT TERM

say "starting the local Kubernetes (logs: $state/localkube.log)"
mkdir -p "$state"
bin/localkube --state-dir "$state/cluster" up >"$state/localkube.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 240); do
	bin/localkube --state-dir "$state/cluster" status >/dev/null 2>&1 && break
	kill -0 "${pids[0]}" 2>/dev/null || { cat "$state/localkube.log"; exit 1; }
	sleep 0.5
done
export KUBECONFIG="$state/cluster/admin.kubeconfig"
"$kubectl" get nodes

say "installing the operator with its Helm chart (charts/redkube)"
export HELM_CACHE_HOME="$state/helm/cache" HELM_CONFIG_HOME="$state/helm/config" HELM_DATA_HOME="$state/helm/data"
start=$(date +%s%N)
if ! "$helm" upgrade --install redkube charts/redkube --namespace redkube-system --create-namespace --wait --timeout 3m; then
	"$kubectl" -n redkube-system get pods -o wide
	"$kubectl" -n redkube-system logs -l app.kubernetes.io/component=operator --tail=30 || true
	exit 1
fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'operator Ready %d.%03ds after helm install\n' $((ms / 1000)) $((ms % 1000))
"$kubectl" -n redkube-system get pods -o wide

say "applying $sample"
start=$(date +%s%N)
"$kubectl" apply -f "$sample"
if ! "$kubectl" wait --for=condition=Ready "rediscluster/$name" --timeout=300s; then
	"$kubectl" describe "rediscluster/$name"
	"$kubectl" -n redkube-system logs -l app.kubernetes.io/component=operator --tail=50
	exit 1
fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'Ready %d.%03ds after kubectl apply\n\n' $((ms / 1000)) $((ms % 1000))
"$kubectl" wait --for=condition=ExternalAccessReady "rediscluster/$name" --timeout=60s
ext=$("$kubectl" get rediscluster "$name" -o jsonpath='{.status.externalAccess.endpoints[0].address}')
"$kubectl" get redisclusters
echo
"$kubectl" get pods -o wide
ip=$("$kubectl" get pod -l "app.kubernetes.io/instance=$name" -o jsonpath='{.items[0].status.podIP}')
cat <<TXT

The cluster is up. Reach it from this machine:

  redis-cli -c -h ${ext%:*} -p ${ext##*:}      # a node's own NodePort, as a client outside Kubernetes would
  redis-cli -c -h $ip -p 6379              # any pod IP
  redis-cli -c -h 10.244.0.1 -p 30010      # the NodePort access Service, as in the tutorial
  $kubectl get rediscluster $name -o jsonpath='{.status.externalAccess.endpoints}'   # every node's endpoint
  bin/rcctl status $ip:6379

  export KUBECONFIG=$KUBECONFIG
  $kubectl logs $name-0-0 --tail=20   # Redis's own log (-f, --previous, --timestamps work too)
  $kubectl delete pod $name-0-0       # the tutorial's failover test, healed by the operator
  $kubectl -n redkube-system logs -l app.kubernetes.io/component=operator -f   # the operator's log

Press Ctrl-C to stop everything.
TXT
wait "${pids[0]}"
