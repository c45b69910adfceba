package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/redkube/redkube/pkg/executor"
	"github.com/redkube/redkube/pkg/redisadmin"
)

// waitLimit bounds how long rcctl waits for a cluster to settle after a
// change, on top of the caller's context.
const waitLimit = 5 * time.Minute

// waitPoll is how often settle loops observe again.
const waitPoll = 20 * time.Millisecond

// waitConsistent waits until the nodes at addrs agree on the layout (see
// executor.Consistency), bounded by waitLimit.
func (a *app) waitConsistent(ctx context.Context, p *redisadmin.Pool, addrs []string) error {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if err := executor.WaitConsistent(ctx, p, addrs, waitPoll); err != nil {
		return fmt.Errorf("wait for every node to agree: %w", err)
	}
	return nil
}

// waitReplicasSynced waits until every replica among addrs finished its
// first sync, bounded by waitLimit.
func (a *app) waitReplicasSynced(ctx context.Context, p *redisadmin.Pool, addrs []string) error {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if err := executor.WaitReplicasSynced(ctx, p, addrs, waitPoll); err != nil {
		return fmt.Errorf("wait for replicas to sync: %w", err)
	}
	return nil
}
