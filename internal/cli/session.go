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
}

func (s *session) close() { _ = s.pool.Close() }

// open checks the seed address, connects and observes the cluster it
// belongs to.
func (a *app) open(ctx context.Context, seed string) (*session, error) {
	if _, _, err := parseAddr(seed); err != nil {
		return nil, err
	}
	p, err := a.pool()
	if err != nil {
		return nil, err
	}
	s := &session{pool: p, seed: seed}
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
	snap, err := redisadmin.Discover(ctx, s.pool, []string{s.seed}, nil)
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
