package controller

import (
	"context"
	"fmt"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// shardKeys is what the master of one shard of a same-layout restore
// holds: its DBSIZE and the keys it dropped as expired since it started
// on the shard's RDB.
type shardKeys struct {
	found, expired int64
}

// restoreFinished reports whether status.restore reached a final phase.
func restoreFinished(rs *redisv1alpha1.RestoreStatus) bool {
	return rs != nil && (rs.Phase == redisv1alpha1.RestoreSucceeded || rs.Phase == redisv1alpha1.RestoreFailed)
}

// readRestoreKeys reads, for a same-layout restore not yet judged, each
// shard master's key count (the gathered DBSIZE) and expired keys, once
// the cluster is formed around them with every slot covered and nothing
// left to change this pass. The restore controller judges them
// (restoreKeysVerdict).
func (r *Reconciler) readRestoreKeys(ctx context.Context, st *state) error {
	c := st.cluster
	if !st.restore.sameLayout() || restoreFinished(st.old.Restore) || c == nil || !c.Bootstrapped() || !c.Covered() || !st.decision.IsNone() {
		return nil
	}
	if len(c.Shards) != len(st.restore.slots) {
		return nil
	}
	out := make([]shardKeys, len(c.Shards))
	for i, sh := range c.Shards {
		m := sh.Master
		if m == nil || !m.Live() || !sh.Slots.Equal(st.restore.slots[i]) {
			return nil // not formed as the backup was yet
		}
		e, err := st.pool.Node(m.Addr).ExpiredKeys(ctx)
		if err != nil {
			return fmt.Errorf("read the expired keys of %s: %w", m.Name, err)
		}
		// DBSIZE was read before: a key expiring in between only raises
		// expired, never hides a missing key.
		out[i] = shardKeys{found: m.State.Keys, expired: e.Total()}
	}
	st.restoreKeys = out
	return nil
}

// recordRestoreKeys writes the key counts read this pass into
// status.restore.shards.
func recordRestoreKeys(next *redisv1alpha1.RedisClusterStatus, keys []shardKeys) {
	if keys == nil || next.Restore == nil || len(next.Restore.Shards) != len(keys) {
		return
	}
	shards := make([]redisv1alpha1.RestoreShardStatus, len(keys))
	for i, k := range keys {
		shards[i] = next.Restore.Shards[i]
		shards[i].Found, shards[i].Expired = &k.found, &k.expired
	}
	next.Restore.Shards = shards
}

// restoreKeysVerdict judges a same-layout restore from its shards' key
// counts: known is false until every master's count was recorded. A
// master must hold its shard's keys: never more than the backup counted
// (more means data that is not this backup's), and fewer only by keys it
// dropped as expired (the backup's TTLs are absolute times, so keys that
// expired between the backup and the restore are gone, as they would be
// in the source). The message says what was found.
func restoreKeysVerdict(shards []redisv1alpha1.RestoreShardStatus) (known, ok bool, msg string) {
	var found, expired int64
	for i, sh := range shards {
		if sh.Found == nil || sh.Expired == nil {
			return false, false, ""
		}
		f, e := *sh.Found, *sh.Expired
		switch {
		case f > sh.Keys:
			return true, false, fmt.Sprintf("shard %d's master holds %d keys, more than the backup's %d: its data is not the backup's", i, f, sh.Keys)
		case f+e < sh.Keys:
			return true, false, fmt.Sprintf("shard %d's master holds %d keys of the backup's %d; only %d expired, so %d are missing", i, f, sh.Keys, e, sh.Keys-f-e)
		}
		found += f
		expired += min(e, sh.Keys-f)
	}
	msg = fmt.Sprintf("restored %d keys of %d shards", found, len(shards))
	if expired > 0 {
		msg += fmt.Sprintf(" (%d more expired since the backup)", expired)
	}
	return true, true, msg
}
