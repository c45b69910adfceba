package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redkube/redkube/test/harness"
)

// idle creates two more RedisClusters, waits until all three are Ready
// and healthy, and measures the manager's memory and the API and Redis
// writes it makes over an idle period.
func (b *bench) idle(ctx context.Context) error {
	const section = "operator at rest"
	targets := []*target{b.op}
	t0 := time.Now()
	for _, name := range []string{"bench-2", "bench-3"} {
		if err := b.e.ApplyYAML(ctx, "rc-"+name+".yaml", redisClusterYAML(name)); err != nil {
			return err
		}
		targets = append(targets, newOperatorTarget(b.e, b.op.pool, name))
	}
	for _, t := range targets {
		if _, _, err := b.waitRecovered(ctx, t, t0.Add(-time.Hour), 4*time.Minute); err != nil {
			return err
		}
	}
	// Give the operator up to a minute to spread masters (a failover in the
	// idle period would count as writes); it cannot when a shard's pods
	// share a node, which preferred anti-affinity allows.
	spread := 0
	for _, t := range targets {
		if _, err := harness.Poll(ctx, time.Minute, 200*time.Millisecond, "masters spread", func(ctx context.Context) (bool, error) {
			worst, err := t.mastersPerNode(ctx)
			return worst == 1, err
		}); err == nil {
			spread++
		}
	}
	b.rep.setText(section, "clusters with one master per node before the idle period", colOp, fmt.Sprintf("%d of %d", spread, len(targets)))
	b.rep.setText(section, "two more 3x1 RedisClusters applied → all three Ready and healthy (+ up to 1 min for masters spread)", colOp, fmtDur(time.Since(t0)))
	// Let the passes the last changes triggered finish.
	time.Sleep(5 * time.Second)
	var addrs []string
	for _, t := range targets {
		a, err := t.addrs(ctx)
		if err != nil {
			return err
		}
		addrs = append(addrs, a...)
	}
	statsAt := func() (map[string]map[string]int64, error) {
		out := map[string]map[string]int64{}
		for _, a := range addrs {
			s, err := b.op.pool.commandStats(ctx, a)
			if err != nil {
				return nil, err
			}
			out[a] = s
		}
		return out, nil
	}
	c0, err := readCounters(ctx, b.e.mgr)
	if err != nil {
		return err
	}
	s0, err := statsAt()
	if err != nil {
		return err
	}
	if err := harness.Sleep(ctx, b.cfg.idle); err != nil {
		return err
	}
	c1, err := readCounters(ctx, b.e.mgr)
	if err != nil {
		return err
	}
	s1, err := statsAt()
	if err != nil {
		return err
	}
	rss, err := b.e.mgr.Status("VmRSS")
	if err != nil {
		return err
	}
	hwm, _ := b.e.mgr.Status("VmHWM")
	passes := c1.reconciles - c0.reconciles
	apiByMethod, api := c0.writes(c1)
	redisByCmd, rw := redisWrites(s0, s1)
	b.rep.setTarget(section, "manager RSS managing 3 clusters (end of the idle period)", colOp, mib(rss), "≤ 50 MiB")
	b.rep.setText(section, "manager RSS peak over the whole run (sampled 2/s; VmHWM)", colOp, fmt.Sprintf("%.1f MiB (%.1f MiB)", harness.MiB(b.e.mgr.PeakRSS()), harness.MiB(hwm)))
	b.rep.setText(section, fmt.Sprintf("reconcile passes in %v idle (3 healthy clusters)", b.cfg.idle), colOp, fmt.Sprintf("%v", passes))
	b.rep.setText(section, "Kubernetes API writes (non-GET requests): total, by method", colOp, fmt.Sprintf("%v (%s); GETs %v", api, formatCounts(apiByMethod), c1.requests["GET"]-c0.requests["GET"]))
	b.rep.setText(section, "Redis write/admin commands on the 18 nodes: total, by command", colOp, fmt.Sprintf("%d (%s)", rw, formatCounts(redisByCmd)))
	if passes > 0 {
		b.rep.setValue(section, "API writes per reconcile of a healthy cluster", colOp, api/passes, fmt.Sprintf("%.2f", api/passes), "0")
		b.rep.setValue(section, "Redis writes per reconcile of a healthy cluster", colOp, float64(rw)/passes, fmt.Sprintf("%.2f", float64(rw)/passes), "0")
	}
	return nil
}
