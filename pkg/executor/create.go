package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// prepareNodes runs SetConfigEpoch and AssignSlots steps, one goroutine per
// node, each node's steps in plan order.
func (e *Executor) prepareNodes(ctx context.Context, steps []planner.Step) error {
	var order []topology.NodeID
	per := map[topology.NodeID][]planner.Step{}
	for _, s := range steps {
		var id topology.NodeID
		switch s := s.(type) {
		case planner.SetConfigEpoch:
			id = s.Node
		case planner.AssignSlots:
			id = s.Node
		}
		if _, ok := per[id]; !ok {
			order = append(order, id)
		}
		per[id] = append(per[id], s)
	}
	return forEach(ctx, len(order), len(order), func(ctx context.Context, i int) error {
		for _, s := range per[order[i]] {
			if err := e.runStep(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
}

// SetConfigEpoch gives a fresh node its config epoch. A node whose epoch is
// already the requested one counts as done.
func (e *Executor) SetConfigEpoch(ctx context.Context, s planner.SetConfigEpoch) error {
	n, err := e.node(s.Node)
	if err != nil {
		return err
	}
	err = n.SetConfigEpoch(ctx, s.Epoch)
	if err == nil {
		return nil
	}
	if ci, cerr := n.ClusterInfo(ctx); cerr == nil && ci.MyEpoch == s.Epoch {
		return nil
	}
	return err
}

// AssignSlots makes a node serve slots nobody serves. Slots the node
// already serves are not assigned again, so a repeated run succeeds.
func (e *Executor) AssignSlots(ctx context.Context, s planner.AssignSlots) error {
	n, err := e.node(s.Node)
	if err != nil {
		return err
	}
	v, err := n.ClusterNodes(ctx)
	if err != nil {
		return err
	}
	self := v.Myself()
	if self == nil || self.ID != s.Node {
		return fmt.Errorf("%s answers as another node: %w", n.Addr(), ErrStalePlan)
	}
	return n.AddSlots(ctx, s.Slots.Difference(self.Slots))
}

// Meet sends CLUSTER MEET with Peer's address to Node. A host name in the
// peer's address is resolved first: MEET takes an IP.
func (e *Executor) Meet(ctx context.Context, s planner.Meet) error {
	n, err := e.node(s.Node)
	if err != nil {
		return err
	}
	peer, err := e.endpoint(s.Peer)
	if err != nil {
		return err
	}
	host, portText, err := net.SplitHostPort(peer.Addr)
	if err != nil {
		return fmt.Errorf("peer address %q: %w", peer.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("peer address %q: %w", peer.Addr, err)
	}
	if net.ParseIP(host) == nil {
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", host, err)
		}
		if len(ips) == 0 {
			return fmt.Errorf("resolve %s: no address", host)
		}
		host = ips[0].IP.String()
	}
	return n.Meet(ctx, host, port, peer.BusPort)
}

// Announce makes Node announce Endpoint.
func (e *Executor) Announce(ctx context.Context, s planner.Announce) error {
	n, err := e.node(s.Node)
	if err != nil {
		return err
	}
	if err := n.SetAnnounce(ctx, s.Endpoint); err != nil {
		return fmt.Errorf("announce %s on %s: %w", s.Endpoint.ClientAddr(), n.Addr(), err)
	}
	return nil
}

// Replicate makes Replica a replica of Master. Right after a MEET the
// replica may not know the master yet; the call is retried every
// PollInterval until it does or ctx ends.
func (e *Executor) Replicate(ctx context.Context, s planner.Replicate) error {
	n, err := e.node(s.Replica)
	if err != nil {
		return err
	}
	for {
		err := n.Replicate(ctx, s.Master)
		if err == nil {
			return nil
		}
		var re *redisadmin.Error
		if !errors.As(err, &re) || re.Kind != redisadmin.KindServer || !strings.Contains(re.Err.Error(), "Unknown node") {
			return err
		}
		if werr := sleep(ctx, e.opts.PollInterval); werr != nil {
			return fmt.Errorf("replica does not know its master yet: %w (last error: %w)", werr, err)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
