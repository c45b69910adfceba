package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redkube/redkube/test/harness"
	"github.com/redkube/redkube/test/writeload"
)

// lostShards is what a node stop takes from one target.
type lostShards struct {
	t         *target
	slots     []int    // one slot of each master on the node
	oldAddrs  []string // those masters' addresses
	survivors []string // pods on other nodes
	all       []string
	masters   int
}

// shardsOn returns the masters of t on Kubernetes node n, and whether each
// has a replica elsewhere.
func shardsOn(ctx context.Context, t *target, n string) (lostShards, bool, error) {
	pods, err := t.livePods(ctx)
	if err != nil {
		return lostShards{}, false, err
	}
	if len(pods) == 0 {
		return lostShards{}, false, errors.New("no pods")
	}
	view, err := t.pool.view(ctx, pods[0].addr())
	if err != nil {
		return lostShards{}, false, err
	}
	nodeOf := map[string]string{}
	ls := lostShards{t: t}
	for _, p := range pods {
		nodeOf[p.ip] = p.node
		ls.all = append(ls.all, p.addr())
		if p.node != n {
			ls.survivors = append(ls.survivors, p.addr())
		}
	}
	ok := true
	for _, m := range view.Masters() {
		if m.Slots.IsEmpty() || nodeOf[m.Host()] != n {
			continue
		}
		ls.masters++
		ls.slots = append(ls.slots, m.Slots.Slots()[0])
		ls.oldAddrs = append(ls.oldAddrs, m.Addr)
		elsewhere := false
		for _, r := range view.ReplicasOf(m.ID) {
			if nodeOf[r.Host()] != n {
				elsewhere = true
			}
		}
		ok = ok && elsewhere
	}
	return ls, ok, nil
}

// stopNode stops, without warning, a Kubernetes node holding a master of
// each target, with a writer on each; measures until the lost shards are
// served again; starts the node again; measures until both are healthy.
func (b *bench) stopNode(ctx context.Context) error {
	const section = "node stop"
	// The failovers above pile masters up; the operator spreads them again
	// (a node holding a majority of masters would leave Redis unable to
	// fail over). Wait for that, so that every node holds one of its masters.
	if _, err := harness.Poll(ctx, 2*time.Minute, 200*time.Millisecond, "operator masters spread", func(ctx context.Context) (bool, error) {
		worst, err := b.op.mastersPerNode(ctx)
		return worst == 1, err
	}); err != nil {
		return err
	}
	var node string
	var op, tut lostShards
	for _, n := range b.e.Cluster.Nodes {
		o, ook, err := shardsOn(ctx, b.op, n)
		if err != nil {
			return err
		}
		u, uok, err := shardsOn(ctx, b.tut, n)
		if err != nil {
			return err
		}
		if o.masters >= 1 && ook && u.masters >= 1 && uok && (node == "" || o.masters+u.masters < op.masters+tut.masters) {
			node, op, tut = n, o, u
		}
	}
	if node == "" {
		return errors.New("no Kubernetes node holds a master of both setups with its replica elsewhere")
	}
	b.rep.setText(section, "stopped node / masters lost", colOp, fmt.Sprintf("%s / %d", node, op.masters))
	b.rep.setText(section, "stopped node / masters lost", colTut, fmt.Sprintf("%s / %d", node, tut.masters))
	before, _ := readCounters(ctx, b.e.mgr)
	wo := writeload.Start(ctx, op.all, "operator-nodestop")
	wt := writeload.Start(ctx, tut.all, "tutorial-nodestop")
	time.Sleep(time.Second)
	t0 := time.Now()
	if err := b.e.Cluster.StopNode(ctx, node); err != nil {
		wo.Stop()
		wt.Stop()
		return fmt.Errorf("stop node %s: %w", node, err)
	}
	var wg sync.WaitGroup
	servedAt := make([]timeOrErr, 2)
	for i, ls := range []lostShards{op, tut} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at, err := harness.Poll(ctx, 90*time.Second, 50*time.Millisecond, "lost shards served", func(ctx context.Context) (bool, error) {
				live, err := ls.t.liveIPs(ctx)
				if err != nil {
					return false, err
				}
				for j, s := range ls.slots {
					if _, ok := ls.t.served(ctx, ls.survivors, s, ls.oldAddrs[j], live); !ok {
						return false, nil
					}
				}
				return true, nil
			})
			servedAt[i] = timeOrErr{at, err}
		}()
	}
	wg.Wait()
	mid, _ := readCounters(ctx, b.e.mgr)
	restarted := time.Now()
	if err := b.e.Cluster.StartNode(ctx, node); err != nil {
		wo.Stop()
		wt.Stop()
		return fmt.Errorf("start node %s: %w", node, err)
	}
	type rec struct {
		healthy, ready time.Time
		err            error
	}
	recs := make([]rec, 2)
	for i, t := range []*target{b.op, b.tut} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, r, err := b.waitRecovered(ctx, t, restarted, 3*time.Minute)
			recs[i] = rec{h, r, err}
		}()
	}
	wg.Wait()
	time.Sleep(time.Second)
	results := []writeload.Result{wo.Stop(), wt.Stop()}
	for i, ls := range []lostShards{op, tut} {
		col := colFor(ls.t)
		if servedAt[i].err != nil {
			b.rep.setText(section, "stop → every surviving node routes the lost shards to a live master", col, servedAt[i].err.Error())
		} else {
			b.rep.setTarget(section, "stop → every surviving node routes the lost shards to a live master", col, dur(servedAt[i].at.Sub(t0)), "")
		}
		res := results[i]
		addrs, err := ls.t.addrs(ctx)
		if err != nil {
			return err
		}
		b.rep.setTarget(section, "writer: worst unavailability (longest gap between acks)", col, dur(res.WorstGap), "")
		b.rep.setText(section, "writer: errors / acknowledged / lost acknowledged", col, writeTally(ctx, addrs, ls.t.label+"-nodestop", res))
		b.rep.setText(section, "node down for (started again once both were served)", col, fmtDur(restarted.Sub(t0)))
		if recs[i].err != nil {
			b.rep.setText(section, "node start → 6 nodes, replicas back and in sync", col, recs[i].err.Error())
			continue
		}
		b.rep.set(section, "node start → 6 nodes, replicas back and in sync", col, since(restarted, recs[i].healthy))
		stale, err := ls.t.staleSelf(ctx)
		if err != nil {
			return err
		}
		b.rep.setText(section, "nodes reporting themselves at an old IP afterwards", col, staleText(stale))
		b.placement(ctx, section, ls.t, restarted)
		if ls.t.rc != "" {
			b.rep.set(section, "node start → Ready condition True again", col, since(restarted, recs[i].ready))
		}
	}
	// Placement beyond replicas: the operator spreads masters again (failovers
	// pile them up on the surviving nodes); nobody does for the tutorial.
	for _, t := range []*target{b.op, b.tut} {
		col := colFor(t)
		if t.rc == "" {
			worst, err := t.mastersPerNode(ctx)
			if err != nil {
				return err
			}
			b.rep.setText(section, "node start → masters one per node again", col, fmt.Sprintf("not done (nobody moves them; %d masters on one node)", worst))
			continue
		}
		at, err := harness.Poll(ctx, 2*time.Minute, 100*time.Millisecond, "masters spread", func(ctx context.Context) (bool, error) {
			worst, err := t.mastersPerNode(ctx)
			return worst == 1, err
		})
		if err != nil {
			b.rep.setText(section, "node start → masters one per node again", col, err.Error())
			continue
		}
		b.rep.set(section, "node start → masters one per node again", col, dur(at.Sub(restarted)))
	}
	b.rep.setText(section, "operator failovers while the node was down", colOp,
		fmt.Sprintf("%v graceful, %v forced (Redis's own failover otherwise)", mid.failovers["graceful"]-before.failovers["graceful"], mid.failovers["force"]-before.failovers["force"]))
	return nil
}
