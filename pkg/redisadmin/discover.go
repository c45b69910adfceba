package redisadmin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/topology"
)

// State observes the node in one pipelined round trip: CLUSTER NODES,
// INFO replication and memory, DBSIZE and CLUSTER INFO. Labels are left
// empty; Addr is the address the node was reached at.
func (n *Node) State(ctx context.Context) (*topology.NodeState, error) {
	var (
		nodesCmd, infoCmd, ciCmd *redis.StringCmd
		sizeCmd                  *redis.IntCmd
	)
	err := n.call(ctx, "observe", func(ctx context.Context, c *redis.Client) error {
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			nodesCmd = p.ClusterNodes(ctx)
			infoCmd = p.Info(ctx, "replication", "memory")
			sizeCmd = p.DBSize(ctx)
			ciCmd = p.ClusterInfo(ctx)
			return nil
		})
		return firstErr(cmds, err)
	})
	if err != nil {
		return nil, err
	}
	view, err := topology.ParseClusterNodes(nodesCmd.Val())
	if err != nil {
		return nil, wrap(n.addr, "CLUSTER NODES", err)
	}
	if view.Myself() == nil {
		return nil, wrap(n.addr, "CLUSTER NODES", errors.New("listing has no myself line"))
	}
	repl, err := ParseReplication(infoCmd.Val())
	if err != nil {
		return nil, wrap(n.addr, "INFO", err)
	}
	mem, err := ParseMemory(infoCmd.Val())
	if err != nil {
		return nil, wrap(n.addr, "INFO", err)
	}
	ci, err := ParseClusterInfo(ciCmd.Val())
	if err != nil {
		return nil, wrap(n.addr, "CLUSTER INFO", err)
	}
	return &topology.NodeState{
		Addr:           n.addr,
		View:           view,
		Replication:    repl,
		Keys:           sizeCmd.Val(),
		UsedMemory:     mem.UsedMemory,
		ClusterStateOK: ci.StateOK,
	}, nil
}

// Discover observes a whole cluster. It queries every seed and, transitively,
// every node address any reply mentions (nodes in handshake or without an
// address excepted), all concurrently, and returns what each reachable node
// reported. Addresses that could not be observed land in
// Snapshot.Unreachable with their error text; Discover fails only when no
// node answered at all (or ctx ended). labels, when not nil, supplies the
// placement labels of each address.
func Discover(ctx context.Context, pool *Pool, seeds []string, labels func(addr string) topology.Labels) (*topology.Snapshot, error) {
	return discover(ctx, pool, seeds, labels, true)
}

// ObserveNodes is Discover without following the addresses the replies
// mention: it queries exactly addrs. A caller that knows where every node
// it manages lives (an operator listing its pods) uses it so that one pass
// never waits on the dial timeout of an address no process holds any more
// (a deleted pod's IP, still listed by its peers); Snapshot.Unreachable
// then only names addresses from addrs.
func ObserveNodes(ctx context.Context, pool *Pool, addrs []string, labels func(addr string) topology.Labels) (*topology.Snapshot, error) {
	return discover(ctx, pool, addrs, labels, false)
}

// discover implements Discover (follow) and ObserveNodes.
func discover(ctx context.Context, pool *Pool, seeds []string, labels func(addr string) topology.Labels, follow bool) (*topology.Snapshot, error) {
	snap := &topology.Snapshot{Nodes: map[topology.NodeID]*topology.NodeState{}, Unreachable: map[string]string{}}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		seen  = map[string]bool{}
		errs  []error
		visit func(addr string)
	)
	visit = func(addr string) {
		defer wg.Done()
		st, err := pool.Node(addr).State(ctx)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			snap.Unreachable[addr] = err.Error()
			errs = append(errs, err)
			return
		}
		if labels != nil {
			st.Labels = labels(addr)
		}
		id := st.Self().ID
		if prev, dup := snap.Nodes[id]; dup && prev.Addr < addr {
			return // the same node reached under two addresses: keep one
		}
		snap.Nodes[id] = st
		if !follow {
			return
		}
		for _, peer := range st.View.Nodes {
			if peer.IsMyself() || peer.Flags&(topology.FlagHandshake|topology.FlagNoAddr) != 0 || peer.Host() == "" {
				continue
			}
			if !seen[peer.Addr] {
				seen[peer.Addr] = true
				wg.Add(1)
				go visit(peer.Addr)
			}
		}
	}
	mu.Lock()
	for _, s := range seeds {
		if !seen[s] {
			seen[s] = true
			wg.Add(1)
			go visit(s)
		}
	}
	mu.Unlock()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisadmin: discover: %w", err)
	}
	if len(snap.Nodes) == 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, fmt.Errorf("redisadmin: discover: no node answered: %w", errors.Join(errs...))
	}
	return snap, nil
}
