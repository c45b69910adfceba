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
