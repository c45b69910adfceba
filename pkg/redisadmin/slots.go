package redisadmin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/topology"
)

// SlotAction is the sub-command of CLUSTER SETSLOT.
type SlotAction string

// SETSLOT sub-commands.
const (
	// SlotImporting is SETSLOT <slot> IMPORTING <source-id>.
	SlotImporting SlotAction = "IMPORTING"
	// SlotMigrating is SETSLOT <slot> MIGRATING <target-id>.
	SlotMigrating SlotAction = "MIGRATING"
	// SlotNode is SETSLOT <slot> NODE <owner-id>.
	SlotNode SlotAction = "NODE"
	// SlotStable is SETSLOT <slot> STABLE.
	SlotStable SlotAction = "STABLE"
)

// SetSlot is one CLUSTER SETSLOT command.
type SetSlot struct {
	Slot   int
	Action SlotAction
	// Node is the peer (IMPORTING/MIGRATING) or owner (NODE); empty for
	// STABLE.
	Node topology.NodeID
}

func (s SetSlot) args() []any {
	a := []any{"CLUSTER", "SETSLOT", s.Slot, string(s.Action)}
	if s.Action != SlotStable {
		a = append(a, string(s.Node))
	}
	return a
}

// SetSlots sends the SETSLOT commands in one pipeline, in order. It returns
// the first failure, naming its slot.
func (n *Node) SetSlots(ctx context.Context, cmds ...SetSlot) error {
	if len(cmds) == 0 {
		return nil
	}
	return n.call(ctx, "CLUSTER SETSLOT", func(ctx context.Context, c *redis.Client) error {
		res, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, s := range cmds {
				p.Do(ctx, s.args()...)
			}
			return nil
		})
		for i, r := range res {
			if r.Err() != nil {
				return fmt.Errorf("slot %d %s: %w", cmds[i].Slot, cmds[i].Action, r.Err())
			}
		}
		return err
	})
}

// SetSlotsThenKeys sends the SETSLOT commands and then, in the same
// pipeline, CLUSTER GETKEYSINSLOT slot count for each of slots; it returns
// the keys listed per slot. It saves a round trip when a source is marked
// MIGRATING and then listed. A failing SETSLOT fails the call, naming its
// slot.
func (n *Node) SetSlotsThenKeys(ctx context.Context, cmds []SetSlot, slots []int, count int) ([][]string, error) {
	out := make([][]string, len(slots))
	err := n.call(ctx, "CLUSTER SETSLOT+GETKEYSINSLOT", func(ctx context.Context, c *redis.Client) error {
		set := make([]*redis.Cmd, len(cmds))
		list := make([]*redis.StringSliceCmd, len(slots))
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range cmds {
				set[i] = p.Do(ctx, s.args()...)
			}
			for i, s := range slots {
				list[i] = p.ClusterGetKeysInSlot(ctx, s, count)
			}
			return nil
		})
		for i, r := range set {
			if r.Err() != nil {
				return fmt.Errorf("slot %d %s: %w", cmds[i].Slot, cmds[i].Action, r.Err())
			}
		}
		for i, r := range list {
			if r.Err() != nil {
				return fmt.Errorf("slot %d: %w", slots[i], r.Err())
			}
			out[i] = r.Val()
		}
		return err
	})
	return out, err
}

// SetSlotImporting marks slot as being imported from source.
func (n *Node) SetSlotImporting(ctx context.Context, slot int, source topology.NodeID) error {
	return n.SetSlots(ctx, SetSlot{Slot: slot, Action: SlotImporting, Node: source})
}

// SetSlotMigrating marks slot as being migrated to target.
func (n *Node) SetSlotMigrating(ctx context.Context, slot int, target topology.NodeID) error {
	return n.SetSlots(ctx, SetSlot{Slot: slot, Action: SlotMigrating, Node: target})
}

// SetSlotNode assigns slot to owner and clears its open state.
func (n *Node) SetSlotNode(ctx context.Context, slot int, owner topology.NodeID) error {
	return n.SetSlots(ctx, SetSlot{Slot: slot, Action: SlotNode, Node: owner})
}

// SetSlotStable clears the slot's MIGRATING/IMPORTING state.
func (n *Node) SetSlotStable(ctx context.Context, slot int) error {
	return n.SetSlots(ctx, SetSlot{Slot: slot, Action: SlotStable})
}

// GetKeysInSlot returns up to count keys of slot (CLUSTER GETKEYSINSLOT).
func (n *Node) GetKeysInSlot(ctx context.Context, slot, count int) ([]string, error) {
	var keys []string
	err := n.call(ctx, "CLUSTER GETKEYSINSLOT", func(ctx context.Context, c *redis.Client) (err error) {
		keys, err = c.ClusterGetKeysInSlot(ctx, slot, count).Result()
		return err
	})
	return keys, err
}

// CountKeysInSlot returns the number of keys the node holds in slot.
func (n *Node) CountKeysInSlot(ctx context.Context, slot int) (int64, error) {
	var k int64
	err := n.call(ctx, "CLUSTER COUNTKEYSINSLOT", func(ctx context.Context, c *redis.Client) (err error) {
		k, err = c.ClusterCountKeysInSlot(ctx, slot).Result()
		return err
	})
	return k, err
}

// CountKeysInSlots returns the key count of each slot, pipelined.
func (n *Node) CountKeysInSlots(ctx context.Context, slots []int) ([]int64, error) {
	out := make([]int64, len(slots))
	err := n.call(ctx, "CLUSTER COUNTKEYSINSLOT", func(ctx context.Context, c *redis.Client) error {
		cmds := make([]*redis.IntCmd, len(slots))
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range slots {
				cmds[i] = p.ClusterCountKeysInSlot(ctx, s)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, c := range cmds {
			out[i] = c.Val()
		}
		return nil
	})
	return out, err
}

// MigrateArgs are the arguments of a multi-key MIGRATE.
type MigrateArgs struct {
	// Target is the destination "host:port".
	Target string
	// Keys to move; all must hash to slots the source serves.
	Keys []string
	// Timeout is MIGRATE's own I/O timeout towards the target
	// (default 10 s).
	Timeout time.Duration
	// Replace overwrites keys the target already holds. Without it such a
	// key fails the call with BUSYKEY.
	Replace bool
}

// KeysInSlots returns up to count keys of each slot, in one pipeline of
// CLUSTER GETKEYSINSLOT commands.
func (n *Node) KeysInSlots(ctx context.Context, slots []int, count int) ([][]string, error) {
	out := make([][]string, len(slots))
	err := n.call(ctx, "CLUSTER GETKEYSINSLOT", func(ctx context.Context, c *redis.Client) error {
		cmds := make([]*redis.StringSliceCmd, len(slots))
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range slots {
				cmds[i] = p.ClusterGetKeysInSlot(ctx, s, count)
			}
			return nil
		})
		for i, cmd := range cmds {
			if cmd.Err() != nil {
				return fmt.Errorf("slot %d: %w", slots[i], cmd.Err())
			}
			out[i] = cmd.Val()
		}
		return err
	})
	return out, err
}

// Migrate moves keys to another node with
// MIGRATE host port "" 0 timeout [REPLACE] [AUTH|AUTH2 ...] KEYS k1..kn.
// The pool's credentials are passed to the target. It returns false when
// none of the keys existed on the source (NOKEY).
func (n *Node) Migrate(ctx context.Context, a MigrateArgs) (bool, error) {
	if len(a.Keys) == 0 {
		return false, nil
	}
	host, port, err := net.SplitHostPort(a.Target)
	if err != nil {
		return false, wrap(n.addr, "MIGRATE", fmt.Errorf("target %q: %w", a.Target, err))
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	args := n.migrateArgs(host, port, timeout, a)
	var reply string
	err = n.bulkCall(ctx, "MIGRATE", func(ctx context.Context, c *redis.Client) (err error) {
		reply, err = c.Do(ctx, args...).Text()
		return err
	})
	if err != nil {
		return false, err
	}
	return reply != "NOKEY", nil
}

// MigrateResult is the outcome of one MIGRATE of a MigrateBatch.
type MigrateResult struct {
	// Moved is false when none of the keys existed on the source (NOKEY).
	Moved bool
	// Err is the command's classified error, nil on success.
	Err error
}

// MigrateBatch sends several MIGRATE commands in one pipeline. The source
// runs them one after the other; each result is reported separately. The
// returned error is set only when the pipeline as a whole failed (no reply
// at all).
func (n *Node) MigrateBatch(ctx context.Context, batch []MigrateArgs) ([]MigrateResult, error) {
	out := make([]MigrateResult, len(batch))
	cmds := make([]*redis.Cmd, len(batch))
	err := n.bulkCall(ctx, "MIGRATE", func(ctx context.Context, c *redis.Client) error {
		var argErr error
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, a := range batch {
				host, port, err := net.SplitHostPort(a.Target)
				if err != nil {
					argErr = fmt.Errorf("target %q: %w", a.Target, err)
					return argErr
				}
				timeout := a.Timeout
				if timeout == 0 {
					timeout = 10 * time.Second
				}
				cmds[i] = p.Do(ctx, n.migrateArgs(host, port, timeout, a)...)
			}
			return nil
		})
		if argErr != nil {
			return argErr
		}
		var re redis.Error
		if err != nil && !errors.As(err, &re) {
			return err // transport failure: no per-command outcome
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, cmd := range cmds {
		reply, err := cmd.Text()
		out[i] = MigrateResult{Moved: err == nil && reply != "NOKEY", Err: wrap(n.addr, "MIGRATE", err)}
	}
	return out, nil
}

func (n *Node) migrateArgs(host, port string, timeout time.Duration, a MigrateArgs) []any {
	args := make([]any, 0, 12+len(a.Keys))
	args = append(args, "MIGRATE", host, port, "", 0, timeout.Milliseconds())
	if a.Replace {
		args = append(args, "REPLACE")
	}
	o := n.pool.opts
	switch {
	case o.Username != "":
		args = append(args, "AUTH2", o.Username, o.Password)
	case o.Password != "":
		args = append(args, "AUTH", o.Password)
	}
	args = append(args, "KEYS")
	for _, k := range a.Keys {
		args = append(args, k)
	}
	return args
}
