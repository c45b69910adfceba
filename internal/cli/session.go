package cli

import (
	"context"
	"fmt"

	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// session is an open connection pool plus the snapshot observed through it.
type session struct {
	pool *redisadmin.Pool
	seed string
	snap *topology.Snapshot
	// labels, when not nil, supplies the placement labels of each address
	// observed (rcctl heal's --host-of hints).
	labels func(addr string) topology.Labels
}

func (s *session) close() { _ = s.pool.Close() }

// open checks the seed address, connects and observes the cluster it
// belongs to.
func (a *app) open(ctx context.Context, seed string) (*session, error) {
	return a.openLabeled(ctx, seed, nil)
}

// openLabeled is open with placement labels for the observed addresses
// (nil: none).
func (a *app) openLabeled(ctx context.Context, seed string, labels func(addr string) topology.Labels) (*session, error) {
	if _, _, err := parseAddr(seed); err != nil {
		return nil, err
	}
	p, err := a.pool()
	if err != nil {
		return nil, err
	}
	s := &session{pool: p, seed: seed, labels: labels}
	if err := s.observe(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// observe (re)takes the snapshot through the seed.
func (s *session) observe(ctx context.Context) error {
	if err := s.pool.Node(s.seed).RequireClusterMode(ctx); err != nil {
		return nodeError(s.seed, err)
	}
	snap, err := redisadmin.Discover(ctx, s.pool, []string{s.seed}, s.labels)
	if err != nil {
		return fmt.Errorf("observe cluster through %s: %w", s.seed, err)
	}
	s.snap = snap
	return nil
}

// seedID returns the node ID of the seed address, "" when it is not among
// the reachable nodes.
func seedID(s *session) topology.NodeID {
	for id, ns := range s.snap.Nodes {
		if ns.Addr == s.seed {
			return id
		}
	}
	return ""
}
