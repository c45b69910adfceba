package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redkube/redkube/pkg/redisadmin"
)

// Why create lowers cluster-node-timeout for a moment: a master that turns
// from cluster_state:fail to ok waits min(max(node-timeout, 500ms), 5s)
// after it last saw itself in a minority (Redis' rejoin delay), and every
// fresh node sees itself in a minority until it serves slots. The delay
// protects the writes of a master rejoining after a partition; a cluster
// being created holds no data, so create runs with a short timeout and
// restores each node's own value once the nodes agree.

// lowerNodeTimeout sets cluster-node-timeout to d on every node whose value
// is larger and returns a function restoring the previous values. A node
// refusing CONFIG (renamed command, ACL) is left alone: only speed is lost.
func (a *app) lowerNodeTimeout(ctx context.Context, p *redisadmin.Pool, addrs []string, d time.Duration) func(context.Context) error {
	want := d.Milliseconds()
	saved := map[string]string{}
	for _, addr := range addrs {
		n := p.Node(addr)
		old, err := n.ConfigGet(ctx, "cluster-node-timeout")
		if err != nil {
			a.log.Warn("cannot read cluster-node-timeout; create will wait Redis' rejoin delay", "addr", addr, "err", err)
			continue
		}
		if v, err := strconv.ParseInt(old, 10, 64); err != nil || v <= want {
			continue
		}
		if err := n.ConfigSet(ctx, "cluster-node-timeout", strconv.FormatInt(want, 10)); err != nil {
			a.log.Warn("cannot lower cluster-node-timeout; create will wait Redis' rejoin delay", "addr", addr, "err", err)
			continue
		}
		saved[addr] = old
	}
	return func(ctx context.Context) error {
		var first error
		for addr, old := range saved {
			if err := p.Node(addr).ConfigSet(ctx, "cluster-node-timeout", old); err != nil && first == nil {
				first = fmt.Errorf("restore cluster-node-timeout %s on %s: %w", old, addr, err)
			}
		}
		return first
	}
}

// setConfig sets one CONFIG parameter on addr and returns a function that
// puts the previous value back (best effort, bounded on its own).
func setConfig(ctx context.Context, s *session, addr, key, value string) (func(), error) {
	n := s.pool.Node(addr)
	old, err := n.ConfigGet(ctx, key)
	if err != nil {
		return nil, nodeError(addr, err)
	}
	if err := n.ConfigSet(ctx, key, value); err != nil {
		return nil, nodeError(addr, err)
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = n.ConfigSet(rctx, key, old)
	}, nil
}
