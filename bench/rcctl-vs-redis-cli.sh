#!/usr/bin/env bash
# Benchmark: rcctl against redis-cli --cluster on identical local clusters.
#
# For each tool, in one run: start 7 fresh loopback redis-servers, then
#  (a) time `create` of 3 masters x 1 replica on 6 of them, from start to
#      every node reporting cluster_state:ok;
#  (b) load KEYS keys (default 100000), add the 7th server as an empty
#      master, wait until every node knows it, then time a rebalance onto
#      it with empty masters allowed; keys moved = DBSIZE of the new master.
# Every key is verified after each rebalance. Rounds: redis-cli; rcctl
# (default, quiet handover); rcctl --quiet-handover=false (the standard
# SETSLOT sequence per slot); and rcctl again with the consistency checker
# (test/checker, `rcbench check`) running its clients during the rebalance,
# whose verdict is printed beside the ratios (the ratios come from the
# unloaded rounds). Prints the numbers and the ratios. All servers are
# killed on exit.
#
# Usage: bench/rcctl-vs-redis-cli.sh            (from anywhere in the repo)
#        KEYS=200000 bench/rcctl-vs-redis-cli.sh
#        KEYS=1000000 bench/rcctl-vs-redis-cli.sh          (scale: keys)
#        KEYS=50000 VALUE_SIZE=16384 bench/rcctl-vs-redis-cli.sh   (scale: bytes/s)
set -euo pipefail

KEYS=${KEYS:-100000}
# Bytes per value; 0 keeps the default values of about 80 bytes.
VALUE_SIZE=${VALUE_SIZE:-0}
# Seconds the fresh servers run before the create clock starts. Redis keeps
# a master's cluster_state at fail for 2 s after it starts
# (CLUSTER_WRITABLE_DELAY), which would otherwise dominate both timings;
# SETTLE=0 measures create on servers that just started.
export SETTLE=${SETTLE:-3}
export REDIS_VERSION=$(redis-server --version | awk "{print \$3}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/rcbench.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "building rcctl and rcbench into $WORK" >&2
(cd "$ROOT" && go build -o "$WORK/rcctl" ./cmd/rcctl && go build -o "$WORK/rcbench" ./bench/rcbench)
RCCTL=$WORK/rcctl
RCBENCH=$WORK/rcbench

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# start_servers NAME N: starts N cluster-mode servers, sets ADDRS.
start_servers() {
	local name=$1 n=$2 i port bus dir
	mapfile -t ports < <("$RCBENCH" free-ports $((2 * n)))
	ADDRS=()
	for ((i = 0; i < n; i++)); do
		port=${ports[$((2 * i))]}
		bus=${ports[$((2 * i + 1))]}
		dir=$WORK/servers-$name/$port
		mkdir -p "$dir"
		cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
dir $dir
daemonize no
protected-mode no
save ""
appendonly no
logfile $dir/redis.log
cluster-enabled yes
cluster-config-file nodes.conf
cluster-port $bus
cluster-node-timeout 5000
CONF
		redis-server "$dir/redis.conf" &
		PIDS+=($!)
		ADDRS+=("127.0.0.1:$port")
	done
	for a in "${ADDRS[@]}"; do
		until redis-cli -h "${a%:*}" -p "${a#*:}" ping >/dev/null 2>&1; do sleep 0.01; done
	done
}

stop_servers() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}

# wait_known ADDR... : until every node lists as many nodes as given.
wait_known() {
	local want=$# a
	for a in "$@"; do
		until [ "$(redis-cli -h "${a%:*}" -p "${a#*:}" cluster info | tr -d '\r' | awk -F: '$1=="cluster_known_nodes"{print $2}')" = "$want" ]; do
			sleep 0.05
		done
	done
}

# run TOOL: one full round; sets CREATE_S, MOVED, REBAL_S.
run() {
	local tool=$1 t0 t1
	start_servers "$tool" 7
	local nodes=("${ADDRS[@]:0:6}") spare=${ADDRS[6]}
	sleep "$SETTLE"
	echo "[$tool] create 3x1 on ${nodes[*]}" >&2
	t0=$(now)
	if [ "$tool" = redis-cli ]; then
		redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$WORK/$tool-create.log" 2>&1
	else
		"$RCCTL" create "${nodes[@]}" --replicas 1 --no-progress >"$WORK/$tool-create.log" 2>&1
	fi
	"$RCBENCH" wait-ok "${nodes[@]}"
	t1=$(now)
	CREATE_S=$(secs "$t0" "$t1")
	echo "[$tool] create: ${CREATE_S}s" >&2

	echo "[$tool] load $KEYS keys, add $spare" >&2
	"$RCBENCH" load -seed "${nodes[0]}" -keys "$KEYS" -value-size "$VALUE_SIZE"
	if [ "$tool" = redis-cli ]; then
		redis-cli --cluster add-node "$spare" "${nodes[0]}" >"$WORK/$tool-add.log" 2>&1
	else
		"$RCCTL" add-node "$spare" "${nodes[0]}" --no-progress >"$WORK/$tool-add.log" 2>&1
	fi
	wait_known "${nodes[@]}" "$spare"
	"$RCBENCH" wait-ok "${nodes[@]}" "$spare"

	local checker_pid=
	if [ "$tool" = rcctl-checked ]; then
		rm -f "$WORK/checker.ready"
		"$RCBENCH" check -seed "${nodes[0]}" -ready "$WORK/checker.ready" >"$WORK/checker.out" 2>&1 &
		checker_pid=$!
		until [ -e "$WORK/checker.ready" ]; do
			kill -0 "$checker_pid" 2>/dev/null || { cat "$WORK/checker.out" >&2; exit 1; }
			sleep 0.05
		done
	fi

	echo "[$tool] rebalance onto $spare" >&2
	t0=$(now)
	if [ "$tool" = redis-cli ]; then
		redis-cli --cluster rebalance "${nodes[0]}" --cluster-use-empty-masters >"$WORK/$tool-rebalance.log" 2>&1
	else
		# rcctl--quiet-handover=false passes that flag; rcctl-checked none.
		local extra=${tool#rcctl}
		[ "$tool" = rcctl-checked ] && extra=
		"$RCCTL" rebalance "${nodes[0]}" --use-empty-masters $extra >"$WORK/$tool-rebalance.log" 2>&1
	fi
	t1=$(now)
	CHECK_RC=0
	if [ -n "$checker_pid" ]; then
		kill -TERM "$checker_pid"
		wait "$checker_pid" || CHECK_RC=$?
		CHECK_OUT=$(cat "$WORK/checker.out")
		echo "[$tool] $CHECK_OUT" >&2
	fi
	REBAL_S=$(secs "$t0" "$t1")
	MOVED=$("$RCBENCH" dbsize "$spare")
	"$RCBENCH" verify -seed "${nodes[0]}" -keys "$KEYS" -value-size "$VALUE_SIZE"
	echo "[$tool] rebalance: $MOVED keys in ${REBAL_S}s (all $KEYS keys verified)" >&2
	stop_servers
}

run redis-cli
RC_CREATE=$CREATE_S RC_MOVED=$MOVED RC_REBAL=$REBAL_S
run rcctl
RK_CREATE=$CREATE_S RK_MOVED=$MOVED RK_REBAL=$REBAL_S
run rcctl--quiet-handover=false
RA_MOVED=$MOVED RA_REBAL=$REBAL_S
run rcctl-checked
RX_MOVED=$MOVED RX_REBAL=$REBAL_S RX_RC=$CHECK_RC RX_OUT=$(head -1 <<<"$CHECK_OUT")

awk -v c1="$RC_CREATE" -v c2="$RK_CREATE" -v m1="$RC_MOVED" -v s1="$RC_REBAL" -v m2="$RK_MOVED" -v s2="$RK_REBAL" \
	-v m3="$RA_MOVED" -v s3="$RA_REBAL" -v m4="$RX_MOVED" -v s4="$RX_REBAL" -v keys="$KEYS" -v vsize="$VALUE_SIZE" 'BEGIN {
	r1 = m1 / s1; r2 = m2 / s2; r3 = m3 / s3; r4 = m4 / s4
	printf "\n%-34s %14s %14s %10s\n", "", "redis-cli", "rcctl", "ratio"
	printf "%-34s %13.3fs %13.3fs %9.3fx   (target <= 0.2x)\n", "create 3x1 -> cluster_state:ok", c1, c2, c2 / c1
	printf "%-34s %14d %14d\n", "rebalance: keys moved", m1, m2
	printf "%-34s %13.3fs %13.3fs\n", "rebalance: seconds", s1, s2
	printf "%-34s %14.0f %14.0f %9.1fx   (target >= 20x)\n", "rebalance: keys/s", r1, r2, r2 / r1
	if (vsize > 0)
		printf "%-34s %14.1f %14.1f %9.1fx   (%d-byte values)\n", "rebalance: MB/s of values", r1 * vsize / 1e6, r2 * vsize / 1e6, r2 / r1, vsize
	printf "%-34s %14s %14.0f %9.1fx   (--quiet-handover=false)\n", "rebalance: keys/s, announce", "", r3, r3 / r1
	printf "%-34s %14s %14.0f %9.1fx   (default, checker clients running)\n", "rebalance: keys/s, under checker", "", r4, r4 / r1
	printf "(%d keys loaded, values of %s bytes; servers up %ss before create; redis-server %s)\n", keys, (vsize > 0 ? vsize : "about 80"), ENVIRON["SETTLE"], ENVIRON["REDIS_VERSION"]
}'
echo "checker during the default rebalance: $RX_OUT"
if [ "$RX_RC" != 0 ]; then
	echo "checker FAILED (exit $RX_RC): see the violations above" >&2
	exit 1
fi
