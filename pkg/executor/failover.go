package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redkube/redkube/pkg/planner"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// ErrUnsafePromotion is matched (errors.Is) by *UnsafePromotionError.
var ErrUnsafePromotion = errors.New("unsafe promotion")

// UnsafePromotionError says why a replica was not promoted.
type UnsafePromotionError struct {
	// Replica is the node that was to be promoted.
	Replica topology.NodeID
	// Reason is a human sentence.
	Reason string
}

func (e *UnsafePromotionError) Error() string {
	return fmt.Sprintf("refusing to promote %s: %s (it may not hold its master's data; force to override)", e.Replica.Short(), e.Reason)
}

// Is matches ErrUnsafePromotion.
func (e *UnsafePromotionError) Is(target error) bool { return target == ErrUnsafePromotion }

// CheckPromotion decides whether a replica whose INFO replication is r is a
// safe promotion target, using planner.PromotionSafeWithin. master is its
// master's INFO replication, nil when the master could not be reached (then
// offsets cannot be compared and only the replica's own link and sync state
// are judged). A replica is safe once its link to the master is up, no sync
// is in progress, and its offset lags the master's by at most maxLag bytes.
// It returns nil or an *UnsafePromotionError.
func CheckPromotion(id topology.NodeID, r topology.Replication, master *topology.Replication, maxLag int64) error {
	if r.Role != "slave" {
		return &UnsafePromotionError{Replica: id, Reason: fmt.Sprintf("it is not a replica (role %s)", r.Role)}
	}
	var m topology.Replication
	if master != nil {
		m = *master
	}
	if ok, why := planner.PromotionSafeWithin(m, planner.ReplicaStatus{ID: id, Replication: r}, maxLag); !ok {
		return &UnsafePromotionError{Replica: id, Reason: why}
	}
	return nil
}

// Failover promotes Replica with CLUSTER FAILOVER (FORCE or TAKEOVER only
// when the step's Mode asks for it) and waits until the replica reports
// itself master in ROLE and in CLUSTER NODES. Unless
// Options.AllowUnsafePromotion is set, a replica that fails CheckPromotion
// is refused with an *UnsafePromotionError and nothing is changed.
func (e *Executor) Failover(ctx context.Context, s planner.Failover) error {
	n, err := e.node(s.Replica)
	if err != nil {
		return err
	}
	v, err := n.ClusterNodes(ctx)
	if err != nil {
		return err
	}
	e.learn(v)
	self := v.Myself()
	if self == nil || self.ID != s.Replica {
		return fmt.Errorf("%s does not answer as %s: %w", n.Addr(), s.Replica.Short(), ErrStalePlan)
	}
	if self.IsMaster() {
		return nil // already promoted (an earlier run got this far)
	}
	if !e.opts.AllowUnsafePromotion {
		if err := e.checkPromotion(ctx, n, self); err != nil {
			return err
		}
	}
	opt := redisadmin.FailoverDefault
	switch s.Mode {
	case planner.FailoverForce:
		opt = redisadmin.FailoverForce
	case planner.FailoverTakeover:
		opt = redisadmin.FailoverTakeover
	}
	e.opts.Logger.Info("starting failover", "replica", s.Replica.Short(), "mode", s.Mode.String())
	if err := n.ClusterFailover(ctx, opt); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, e.opts.FailoverTimeout)
	defer cancel()
	for {
		role, err := n.Role(wctx)
		if err == nil && role == "master" {
			v, err := n.ClusterNodes(wctx)
			if err == nil && v.Myself().IsMaster() {
				return nil
			}
		}
		if werr := sleep(wctx, e.opts.PollInterval); werr != nil {
			return fmt.Errorf("replica did not become master within %s (a graceful failover gives up after 5 s when the master does not answer): %w", e.opts.FailoverTimeout, werr)
		}
	}
}

// checkPromotion reads the replica's and its master's replication state
// and applies CheckPromotion.
func (e *Executor) checkPromotion(ctx context.Context, n *redisadmin.Node, self *topology.Node) error {
	r, err := n.InfoReplication(ctx)
	if err != nil {
		return err
	}
	var master *topology.Replication
	if mn, err := e.node(self.MasterID); err == nil {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		mr, err := mn.InfoReplication(mctx)
		cancel()
		if err == nil {
			master = &mr
		}
	}
	if master != nil {
		// Read the replica again after the master so that the comparison is
		// not skewed by the time between the two reads.
		if r2, err := n.InfoReplication(ctx); err == nil {
			r = r2
		}
	}
	return CheckPromotion(self.ID, r, master, e.opts.PromotionMaxLag)
}
