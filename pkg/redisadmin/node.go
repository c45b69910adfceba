package redisadmin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkube/redkube/pkg/topology"
)

// Node is a handle on one node of a Pool. Its methods are safe for
// concurrent use.
type Node struct {
	addr string
	pool *Pool
}

// Addr returns the node's address.
func (n *Node) Addr() string { return n.addr }

// Client returns the node's underlying go-redis client, for commands this
// package does not wrap. Errors from it are not classified.
func (n *Node) Client() (*redis.Client, error) {
	c, err := n.pool.client(n.addr)
	if err != nil {
		return nil, wrap(n.addr, "connect", err)
	}
	return c, nil
}

// callGrace is added to a call's deadline so that the dialer's own
// timeout (DialTimeout, the TLS handshake's), which says more, fires first.
const callGrace = 200 * time.Millisecond

// call runs fn with the node's client and classifies its error. When the
// pool has a CallTimeout, fn gets a context bounded by it (plus callGrace):
// the dial, go-redis's retry and every reply of the call share that one
// deadline.
func (n *Node) call(ctx context.Context, op string, fn func(ctx context.Context, c *redis.Client) error) error {
	c, err := n.pool.client(n.addr)
	if err != nil {
		return wrap(n.addr, op, err)
	}
	limit := n.pool.opts.CallTimeout
	if limit <= 0 {
		return wrap(n.addr, op, fn(ctx, c))
	}
	cctx, cancel := context.WithTimeout(ctx, limit+callGrace)
	defer cancel()
	return wrap(n.addr, op, unresponsive(ctx, cctx, limit, fn(cctx, c)))
}

// bulkCall is call for commands whose reply comes only after data moved
// between nodes (MIGRATE): the write and every reply are bounded by the
// pool's MigrateTimeout instead of ReadTimeout and CallTimeout.
func (n *Node) bulkCall(ctx context.Context, op string, fn func(ctx context.Context, c *redis.Client) error) error {
	c, err := n.pool.client(n.addr)
	if err != nil {
		return wrap(n.addr, op, err)
	}
	limit := n.pool.opts.MigrateTimeout
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return wrap(n.addr, op, unresponsive(ctx, cctx, limit, fn(cctx, c.WithTimeout(limit))))
}

// ErrUnresponsive matches an *UnresponsiveError.
var ErrUnresponsive = errors.New("node is unresponsive")

// UnresponsiveError is the error of a call whose node accepted the
// connection (or had one open) but did not reply within the call's limit:
// a stopped or overloaded process, or a port that is not a Redis client
// port. It matches ErrUnresponsive and, through *Error, ErrUnreachable.
type UnresponsiveError struct {
	// Limit is the time the call had.
	Limit time.Duration
	// Err is the timeout go-redis or the context reported.
	Err error
}

func (e *UnresponsiveError) Error() string {
	return fmt.Sprintf("node is unresponsive: no reply within %s", e.Limit)
}

// Unwrap returns the underlying timeout.
func (e *UnresponsiveError) Unwrap() error { return e.Err }

// Is reports whether target is ErrUnresponsive.
func (e *UnresponsiveError) Is(target error) bool { return target == ErrUnresponsive }

// unresponsive turns the error of a call that ran out of its own time
// limit (not the caller's, and not while dialing: that node is
// unreachable) into an *UnresponsiveError.
func unresponsive(parent, call context.Context, limit time.Duration, err error) error {
	if err == nil || parent.Err() != nil || !isTimeout(err) && call.Err() == nil {
		return err
	}
	var op *net.OpError
	var herr *TLSHandshakeError
	if errors.As(err, &op) && op.Op == "dial" || errors.As(err, &herr) {
		return err
	}
	return &UnresponsiveError{Limit: limit, Err: err}
}

// isTimeout reports whether err is a deadline that passed: a network
// timeout or a context deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// Ping sends PING.
func (n *Node) Ping(ctx context.Context) error {
	return n.call(ctx, "PING", func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
}

// IsClusterEnabled reports whether the node runs with cluster-enabled yes
// (INFO cluster). It returns false and no error for a standalone node.
func (n *Node) IsClusterEnabled(ctx context.Context) (bool, error) {
	var text string
	err := n.call(ctx, "INFO cluster", func(ctx context.Context, c *redis.Client) (err error) {
		text, err = c.Info(ctx, "cluster").Result()
		return err
	})
	if err != nil {
		return false, err
	}
	return infoFields(text)["cluster_enabled"] == "1", nil
}

// RequireClusterMode returns an *Error of KindNotClusterMode when the node
// runs without cluster support.
func (n *Node) RequireClusterMode(ctx context.Context) error {
	ok, err := n.IsClusterEnabled(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Addr: n.addr, Op: "INFO cluster", Kind: KindNotClusterMode, Slot: -1,
			Err: fmt.Errorf("node is not in cluster mode (cluster-enabled no)")}
	}
	return nil
}

// MyID returns the node's cluster ID (CLUSTER MYID).
func (n *Node) MyID(ctx context.Context) (topology.NodeID, error) {
	var id string
	err := n.call(ctx, "CLUSTER MYID", func(ctx context.Context, c *redis.Client) (err error) {
		id, err = c.ClusterMyID(ctx).Result()
		return err
	})
	if err != nil {
		return "", err
	}
	if !topology.ValidNodeID(id) {
		return "", wrap(n.addr, "CLUSTER MYID", fmt.Errorf("invalid node id %q", id))
	}
	return topology.NodeID(id), nil
}

// ClusterNodes returns the node's parsed CLUSTER NODES listing.
func (n *Node) ClusterNodes(ctx context.Context) (*topology.View, error) {
	var text string
	err := n.call(ctx, "CLUSTER NODES", func(ctx context.Context, c *redis.Client) (err error) {
		text, err = c.ClusterNodes(ctx).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	v, err := topology.ParseClusterNodes(text)
	if err != nil {
		return nil, wrap(n.addr, "CLUSTER NODES", err)
	}
	return v, nil
}

// ClusterInfo returns the node's parsed CLUSTER INFO.
func (n *Node) ClusterInfo(ctx context.Context) (ClusterInfo, error) {
	var text string
	err := n.call(ctx, "CLUSTER INFO", func(ctx context.Context, c *redis.Client) (err error) {
		text, err = c.ClusterInfo(ctx).Result()
		return err
	})
	if err != nil {
		return ClusterInfo{}, err
	}
	ci, err := ParseClusterInfo(text)
	if err != nil {
		return ClusterInfo{}, wrap(n.addr, "CLUSTER INFO", err)
	}
	return ci, nil
}

// InfoReplication returns the node's parsed INFO replication.
func (n *Node) InfoReplication(ctx context.Context) (topology.Replication, error) {
	var text string
	err := n.call(ctx, "INFO replication", func(ctx context.Context, c *redis.Client) (err error) {
		text, err = c.Info(ctx, "replication").Result()
		return err
	})
	if err != nil {
		return topology.Replication{}, err
	}
	r, err := ParseReplication(text)
	if err != nil {
		return topology.Replication{}, wrap(n.addr, "INFO replication", err)
	}
	return r, nil
}

// InfoMemory returns the node's parsed INFO memory.
func (n *Node) InfoMemory(ctx context.Context) (Memory, error) {
	var text string
	err := n.call(ctx, "INFO memory", func(ctx context.Context, c *redis.Client) (err error) {
		text, err = c.Info(ctx, "memory").Result()
		return err
	})
	if err != nil {
		return Memory{}, err
	}
	m, err := ParseMemory(text)
	if err != nil {
		return Memory{}, wrap(n.addr, "INFO memory", err)
	}
	return m, nil
}

// ConfigGet returns the value of one CONFIG parameter, and an error when
// the node does not know it.
func (n *Node) ConfigGet(ctx context.Context, key string) (string, error) {
	var v string
	err := n.call(ctx, "CONFIG GET", func(ctx context.Context, c *redis.Client) error {
		m, err := c.ConfigGet(ctx, key).Result()
		if err != nil {
			return err
		}
		got, ok := m[key]
		if !ok {
			return fmt.Errorf("no such parameter %q", key)
		}
		v = got
		return nil
	})
	return v, err
}

// ConfigSet sets one CONFIG parameter.
func (n *Node) ConfigSet(ctx context.Context, key, value string) error {
	return n.call(ctx, "CONFIG SET", func(ctx context.Context, c *redis.Client) error {
		return c.ConfigSet(ctx, key, value).Err()
	})
}

// Role returns the first element of ROLE: "master", "slave" or "sentinel".
func (n *Node) Role(ctx context.Context) (string, error) {
	var role string
	err := n.call(ctx, "ROLE", func(ctx context.Context, c *redis.Client) error {
		v, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			return err
		}
		if len(v) == 0 {
			return fmt.Errorf("empty ROLE reply")
		}
		s, ok := v[0].(string)
		if !ok {
			return fmt.Errorf("unexpected ROLE reply %v", v[0])
		}
		role = s
		return nil
	})
	return role, err
}

// DBSize returns the number of keys in the node's database.
func (n *Node) DBSize(ctx context.Context) (int64, error) {
	var k int64
	err := n.call(ctx, "DBSIZE", func(ctx context.Context, c *redis.Client) (err error) {
		k, err = c.DBSize(ctx).Result()
		return err
	})
	return k, err
}

// ACLSetUser runs ACL SETUSER user rules... (ACL syntax: "on", ">pass",
// "<pass", "nopass", "resetpass", ...). Redis applies all rules or none.
func (n *Node) ACLSetUser(ctx context.Context, user string, rules ...string) error {
	return n.call(ctx, "ACL SETUSER", func(ctx context.Context, c *redis.Client) error {
		args := make([]any, 0, 3+len(rules))
		args = append(args, "acl", "setuser", user)
		for _, r := range rules {
			args = append(args, r)
		}
		return c.Do(ctx, args...).Err()
	})
}

// SetAnnounce makes the node announce e: one CONFIG SET of
// cluster-announce-ip, -port, -bus-port and -hostname, which Redis applies
// all or none. The node gossips the change to its peers within a ping.
func (n *Node) SetAnnounce(ctx context.Context, e topology.Endpoint) error {
	return n.call(ctx, "CONFIG SET cluster-announce-*", func(ctx context.Context, c *redis.Client) error {
		return c.Do(ctx, "config", "set",
			"cluster-announce-ip", e.IP,
			"cluster-announce-port", strconv.Itoa(e.Port),
			"cluster-announce-bus-port", strconv.Itoa(e.BusPort),
			"cluster-announce-hostname", e.Hostname).Err()
	})
}

// Meet introduces the node at ip:port to this node (CLUSTER MEET). busPort
// 0 lets Redis assume port+10000.
func (n *Node) Meet(ctx context.Context, ip string, port, busPort int) error {
	return n.call(ctx, "CLUSTER MEET", func(ctx context.Context, c *redis.Client) error {
		if busPort == 0 {
			return c.ClusterMeet(ctx, ip, strconv.Itoa(port)).Err()
		}
		return c.Do(ctx, "CLUSTER", "MEET", ip, port, busPort).Err()
	})
}

// AddSlots makes the node serve slots (CLUSTER ADDSLOTSRANGE, one per
// range, pipelined).
func (n *Node) AddSlots(ctx context.Context, slots topology.SlotSet) error {
	rs := slots.Ranges()
	if len(rs) == 0 {
		return nil
	}
	return n.call(ctx, "CLUSTER ADDSLOTSRANGE", func(ctx context.Context, c *redis.Client) error {
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, r := range rs {
				p.ClusterAddSlotsRange(ctx, r.Start, r.End)
			}
			return nil
		})
		return firstErr(cmds, err)
	})
}

// SetConfigEpoch sets the config epoch of a fresh node
// (CLUSTER SET-CONFIG-EPOCH).
func (n *Node) SetConfigEpoch(ctx context.Context, epoch uint64) error {
	return n.call(ctx, "CLUSTER SET-CONFIG-EPOCH", func(ctx context.Context, c *redis.Client) error {
		return c.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", epoch).Err()
	})
}

// BumpEpoch runs CLUSTER BUMPEPOCH and returns the node's config epoch
// afterwards.
func (n *Node) BumpEpoch(ctx context.Context) (uint64, error) {
	var epoch uint64
	err := n.call(ctx, "CLUSTER BUMPEPOCH", func(ctx context.Context, c *redis.Client) error {
		s, err := c.Do(ctx, "CLUSTER", "BUMPEPOCH").Text()
		if err != nil {
			return err
		}
		f := strings.Fields(s) // "BUMPED 7" or "STILL 7"
		if len(f) != 2 {
			return fmt.Errorf("unexpected reply %q", s)
		}
		epoch, err = strconv.ParseUint(f[1], 10, 64)
		return err
	})
	return epoch, err
}

// Replicate makes the node a replica of master (CLUSTER REPLICATE).
func (n *Node) Replicate(ctx context.Context, master topology.NodeID) error {
	return n.call(ctx, "CLUSTER REPLICATE", func(ctx context.Context, c *redis.Client) error {
		return c.ClusterReplicate(ctx, string(master)).Err()
	})
}

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

// FailoverOption selects the variant of CLUSTER FAILOVER.
type FailoverOption string

// CLUSTER FAILOVER variants.
const (
	// FailoverDefault is the graceful, coordinated failover.
	FailoverDefault FailoverOption = ""
	// FailoverForce skips the handshake with the master.
	FailoverForce FailoverOption = "FORCE"
	// FailoverTakeover skips the election as well.
	FailoverTakeover FailoverOption = "TAKEOVER"
)

// ClusterFailover asks this replica to take over from its master.
func (n *Node) ClusterFailover(ctx context.Context, opt FailoverOption) error {
	return n.call(ctx, "CLUSTER FAILOVER", func(ctx context.Context, c *redis.Client) error {
		if opt == FailoverDefault {
			return c.ClusterFailover(ctx).Err()
		}
		return c.Do(ctx, "CLUSTER", "FAILOVER", string(opt)).Err()
	})
}

// Forget removes id from this node's table (CLUSTER FORGET). Redis then
// refuses to re-learn id through gossip for 60 s.
func (n *Node) Forget(ctx context.Context, id topology.NodeID) error {
	return n.call(ctx, "CLUSTER FORGET", func(ctx context.Context, c *redis.Client) error {
		return c.ClusterForget(ctx, string(id)).Err()
	})
}

// Reset runs CLUSTER RESET SOFT or HARD. A hard reset also gives the node
// a new ID and zeroes its epochs. Redis refuses to reset a master that
// holds keys.
func (n *Node) Reset(ctx context.Context, hard bool) error {
	return n.call(ctx, "CLUSTER RESET", func(ctx context.Context, c *redis.Client) error {
		if hard {
			return c.ClusterResetHard(ctx).Err()
		}
		return c.ClusterResetSoft(ctx).Err()
	})
}

// firstErr returns the first per-command error of a pipeline, else err.
func firstErr(cmds []redis.Cmder, err error) error {
	for _, c := range cmds {
		if c.Err() != nil {
			return c.Err()
		}
	}
	return err
}
