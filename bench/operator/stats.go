package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redkube/redkube/test/harness"
)

// managerCounters are the manager's counters the benchmark compares
// before and after a period.
type managerCounters struct {
	requests   map[string]float64 // rest_client_requests_total by method
	reconciles float64            // controller_runtime_reconcile_total of the RedisCluster controller
	failovers  map[string]float64 // redkube_failovers_total by mode
}

func readCounters(ctx context.Context, m *harness.Operator) (managerCounters, error) {
	text, err := m.Metrics(ctx)
	if err != nil {
		return managerCounters{}, err
	}
	c := managerCounters{requests: map[string]float64{}, failovers: map[string]float64{}}
	for _, s := range harness.ParseMetrics(text) {
		switch s.Name {
		case "rest_client_requests_total":
			c.requests[s.Labels["method"]] += s.Value
		case "controller_runtime_reconcile_total":
			if s.Labels["controller"] == "rediscluster" {
				c.reconciles += s.Value
			}
		case "redkube_failovers_total":
			c.failovers[s.Labels["mode"]] += s.Value
		}
	}
	return c, nil
}

// writes returns the non-GET requests counted in after but not in c, by
// method, and their sum.
func (c managerCounters) writes(after managerCounters) (map[string]float64, float64) {
	out := map[string]float64{}
	sum := 0.0
	for m, v := range after.requests {
		if m == "GET" {
			continue
		}
		if d := v - c.requests[m]; d > 0 {
			out[m] = d
			sum += d
		}
	}
	return out, sum
}

// readCommands are the Redis commands that change nothing: the operator's
// observations, the benchmark's own INFO, and replication's keep-alives.
var readCommands = map[string]bool{
	"info": true, "ping": true, "echo": true, "time": true, "hello": true, "auth": true, "select": true,
	"role": true, "dbsize": true, "get": true, "exists": true, "scan": true, "type": true, "ttl": true,
	"replconf": true, "command": true, "readonly": true, "readwrite": true, "quit": true,
	"cluster|nodes": true, "cluster|info": true, "cluster|myid": true, "cluster|slots": true,
	"cluster|shards": true, "cluster|replicas": true, "cluster|slaves": true, "cluster|keyslot": true,
	"cluster|countkeysinslot": true, "cluster|getkeysinslot": true, "cluster|links": true,
	"config|get": true, "latency|latest": true, "slowlog|get": true, "memory|usage": true,
	"memory|stats": true,
}

func isRead(cmd string) bool {
	if readCommands[cmd] {
		return true
	}
	return strings.HasPrefix(cmd, "client|") || strings.HasPrefix(cmd, "command|")
}

// commandStats returns addr's INFO commandstats: calls by command name
// ("cluster|meet" for subcommands).
func (p *pool) commandStats(ctx context.Context, addr string) (map[string]int64, error) {
	inf, err := p.info(ctx, addr, "commandstats")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for k, v := range inf {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, "calls="); ok {
				c, err := strconv.ParseInt(n, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("commandstats of %s: %s: %w", addr, k, err)
				}
				out[name] = c
			}
		}
	}
	return out, nil
}

// redisWrites sums, over nodes, the calls of non-read commands in after
// but not in before, by command.
func redisWrites(before, after map[string]map[string]int64) (map[string]int64, int64) {
	out := map[string]int64{}
	var sum int64
	for addr, a := range after {
		b := before[addr]
		for cmd, n := range a {
			if isRead(cmd) {
				continue
			}
			if d := n - b[cmd]; d > 0 {
				out[cmd] += d
				sum += d
			}
		}
	}
	return out, sum
}

// formatCounts renders a count map as "k=v, ..." sorted by key, or "none".
func formatCounts[V int64 | float64](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
