package executor

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// Disagreement describes why a set of nodes is not consistent yet.
type Disagreement struct {
	// Addr is the node whose report differs ("" when not about one node).
	Addr string
	// Reason is a human sentence.
	Reason string
}

func (d Disagreement) String() string {
	if d.Addr == "" {
		return d.Reason
	}
	return d.Addr + ": " + d.Reason
}

// observation is one poll of one node.
type observation struct {
	addr string
	view *topology.View
	info redisadmin.ClusterInfo
	err  error
}

func observeAll(ctx context.Context, pool *redisadmin.Pool, addrs []string) []observation {
	obs := make([]observation, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func(i int, a string) {
			defer wg.Done()
			n := pool.Node(a)
			o := observation{addr: a}
			if o.view, o.err = n.ClusterNodes(ctx); o.err == nil {
				o.info, o.err = n.ClusterInfo(ctx)
			}
			obs[i] = o
		}(i, a)
	}
	wg.Wait()
	return obs
}

// Consistency checks, once, whether the nodes at addrs agree on the layout:
// every node answers, reports cluster_state:ok, knows exactly the nodes at
// addrs (no handshake, no failure flag, every bus link connected), and all
// report the same slot owners and the same master of each replica. It
// returns nil when they agree, else the first disagreement found.
func Consistency(ctx context.Context, pool *redisadmin.Pool, addrs []string) *Disagreement {
	obs := observeAll(ctx, pool, addrs)
	ids := map[topology.NodeID]string{}
	for _, o := range obs {
		if o.err != nil {
			return &Disagreement{Addr: o.addr, Reason: o.err.Error()}
		}
		self := o.view.Myself()
		if self == nil {
			return &Disagreement{Addr: o.addr, Reason: "listing has no myself line"}
		}
		ids[self.ID] = o.addr
	}
	var ref *observation
	var refOwners [topology.SlotCount]topology.NodeID
	for i := range obs {
		o := &obs[i]
		if !o.info.StateOK {
			return &Disagreement{Addr: o.addr, Reason: "cluster_state is not ok"}
		}
		if len(o.view.Nodes) != len(ids) {
			return &Disagreement{Addr: o.addr, Reason: fmt.Sprintf("knows %d nodes, want %d", len(o.view.Nodes), len(ids))}
		}
		for _, n := range o.view.Nodes {
			switch {
			case ids[n.ID] == "":
				return &Disagreement{Addr: o.addr, Reason: fmt.Sprintf("knows node %s outside the set", n.ID.Short())}
			case n.Flags&(topology.FlagHandshake|topology.FlagPFail|topology.FlagFail|topology.FlagNoAddr) != 0:
				return &Disagreement{Addr: o.addr, Reason: fmt.Sprintf("sees node %s as %s", n.ID.Short(), n.Flags)}
			case !n.IsMyself() && !n.Connected:
				return &Disagreement{Addr: o.addr, Reason: fmt.Sprintf("bus link to %s is not connected", n.ID.Short())}
			}
		}
		owners := o.view.SlotOwners()
		if ref == nil {
			ref, refOwners = o, owners
			continue
		}
		if owners != refOwners {
			for x := range owners {
				if owners[x] != refOwners[x] {
					return &Disagreement{Addr: o.addr, Reason: fmt.Sprintf("slot %d owner %s, but %s says %s",
						x, owners[x].Short(), ref.addr, refOwners[x].Short())}
				}
			}
		}
		for _, n := range o.view.Nodes {
			if r := ref.view.Node(n.ID); r.MasterID != n.MasterID {
				return &Disagreement{Addr: o.addr, Reason: fmt.Sprintf("node %s replicates %q, but %s says %q",
					n.ID.Short(), n.MasterID.Short(), ref.addr, r.MasterID.Short())}
			}
		}
	}
	return nil
}

// WaitConsistent polls the nodes at addrs every interval until Consistency
// reports agreement, and returns nil then. When ctx ends first it returns
// ctx's error together with the last disagreement.
func WaitConsistent(ctx context.Context, pool *redisadmin.Pool, addrs []string, interval time.Duration) error {
	for {
		d := Consistency(ctx, pool, addrs)
		if d == nil {
			return nil
		}
		if err := sleep(ctx, interval); err != nil {
			return fmt.Errorf("executor: nodes do not agree (%s): %w", d, err)
		}
	}
}

// WaitReplicasSynced polls the nodes at addrs every interval until every
// replica among them has its replication link up and no sync in progress.
func WaitReplicasSynced(ctx context.Context, pool *redisadmin.Pool, addrs []string, interval time.Duration) error {
	for {
		var why string
		for _, a := range addrs {
			r, err := pool.Node(a).InfoReplication(ctx)
			switch {
			case err != nil:
				why = err.Error()
			case r.Role == "slave" && (!r.MasterLinkUp || r.MasterSyncInProgress):
				why = a + ": replica has not finished its first sync"
			}
			if why != "" {
				break
			}
		}
		if why == "" {
			return nil
		}
		if err := sleep(ctx, interval); err != nil {
			return fmt.Errorf("executor: replicas not synced (%s): %w", why, err)
		}
	}
}

// Addrs returns the addresses of the nodes the executor knows, sorted.
func (e *Executor) Addrs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.nodes))
	for _, ep := range e.nodes {
		out = append(out, ep.Addr)
	}
	sort.Strings(out)
	return out
}

// WaitConsistent waits until the nodes the executor was given agree on the
// layout; see the package function WaitConsistent.
func (e *Executor) WaitConsistent(ctx context.Context) error {
	return WaitConsistent(ctx, e.pool, e.Addrs(), e.opts.PollInterval)
}
