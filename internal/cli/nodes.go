package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/topology"
)

// parseAddr checks that s is "host:port" with a numeric port in range.
func parseAddr(s string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil || h == "" {
		return "", 0, usageErrorf("%q is not a host:port address", s)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, usageErrorf("%q: port must be a number 1-65535", s)
	}
	return h, port, nil
}

// nodeError turns a per-node error into a short message naming the address.
func nodeError(addr string, err error) error {
	// First: an unanswered handshake also matches the deadline below.
	if tlsErr := tlsFailure(addr, err); tlsErr != nil {
		return tlsErr
	}
	var slow *redisadmin.UnresponsiveError
	switch {
	case errors.As(err, &slow):
		return fmt.Errorf("%s accepted the connection but did not reply within %s (--timeout): %w", addr, slow.Limit, redisadmin.ErrUnresponsive)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", addr, err)
	case errors.Is(err, redisadmin.ErrNotClusterMode):
		return fmt.Errorf("%s is not in cluster mode (cluster-enabled no): %w", addr, redisadmin.ErrNotClusterMode)
	case errors.Is(err, redisadmin.ErrUnreachable):
		return &unreachableError{addr: addr, err: err}
	}
	return fmt.Errorf("%s: %w", addr, err)
}

// unreachableError says addr could not be reached, with the innermost
// cause only; the whole chain stays available to errors.Is and errors.As.
type unreachableError struct {
	addr string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("%s is unreachable: %v", e.addr, rootCause(e.err))
}

func (e *unreachableError) Unwrap() error { return e.err }

// tlsFailure names a failed TLS handshake with addr (the node answered, so
// it is not "unreachable", or it serves plain text), or returns nil when err
// is no TLS failure.
func tlsFailure(addr string, err error) error {
	var verr *tls.CertificateVerificationError
	var oerr *net.OpError
	var herr *redisadmin.TLSHandshakeError
	switch {
	case errors.As(err, &herr) && herr.PlainText:
		return fmt.Errorf("%w (drop --tls, --tls-ca, --tls-cert and --tls-key, or use the node's tls-port)", herr)
	case errors.As(err, &herr):
		return herr
	case errors.As(err, &verr):
		return fmt.Errorf("%s: TLS: the server's certificate is not trusted (check --tls-ca): %w", addr, verr.Err)
	case errors.As(err, &oerr) && oerr.Op == "remote error":
		// An alert from the server: it refused our side of the handshake.
		return fmt.Errorf("%s refused the TLS handshake (does it require a client certificate? check --tls-cert, --tls-key): %w", addr, oerr.Err)
	}
	return nil
}

// rootCause returns the innermost wrapped error, for short messages.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// freshNode is what create and add-node learn about a node before using it.
type freshNode struct {
	Addr    string
	ID      topology.NodeID
	BusPort int
}

// probeFresh checks that the node at addr is reachable, in cluster mode,
// knows no other node, serves no slot and holds no key.
func probeFresh(ctx context.Context, p *redisadmin.Pool, addr string) (freshNode, error) {
	n := p.Node(addr)
	if err := n.RequireClusterMode(ctx); err != nil {
		return freshNode{}, nodeError(addr, err)
	}
	info, err := n.ClusterInfo(ctx)
	if err != nil {
		return freshNode{}, nodeError(addr, err)
	}
	if info.KnownNodes > 1 {
		return freshNode{}, fmt.Errorf("%s already belongs to a cluster (it knows %d nodes); reset it with CLUSTER RESET first", addr, info.KnownNodes)
	}
	if info.SlotsAssigned > 0 {
		return freshNode{}, fmt.Errorf("%s already serves %d slots; reset it with CLUSTER RESET first", addr, info.SlotsAssigned)
	}
	keys, err := n.DBSize(ctx)
	if err != nil {
		return freshNode{}, nodeError(addr, err)
	}
	if keys > 0 {
		return freshNode{}, fmt.Errorf("%s holds %d keys; only empty nodes can join a cluster", addr, keys)
	}
	view, err := n.ClusterNodes(ctx)
	if err != nil {
		return freshNode{}, nodeError(addr, err)
	}
	me := view.Myself()
	if me == nil {
		return freshNode{}, fmt.Errorf("%s: CLUSTER NODES has no myself line", addr)
	}
	return freshNode{Addr: addr, ID: me.ID, BusPort: me.BusPort}, nil
}

// probeAllFresh probes addrs concurrently and returns them in order, or the
// first error in address order.
func probeAllFresh(ctx context.Context, p *redisadmin.Pool, addrs []string) ([]freshNode, error) {
	out := make([]freshNode, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = probeFresh(ctx, p, a)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	seen := map[topology.NodeID]string{}
	for _, n := range out {
		if prev, ok := seen[n.ID]; ok {
			return nil, fmt.Errorf("%s and %s are the same node (%s)", prev, n.Addr, n.ID.Short())
		}
		seen[n.ID] = n.Addr
	}
	return out, nil
}

// resolveNode finds the node named by ref — a full node ID, a unique ID
// prefix of at least 6 characters, or an address — among the snapshot's
// reachable nodes (and the nodes their views list).
func resolveNode(snap *topology.Snapshot, ref string) (topology.NodeID, error) {
	known := map[topology.NodeID]string{}
	for id, ns := range snap.Nodes {
		known[id] = ns.Addr
		for _, n := range ns.View.Nodes {
			if _, ok := known[n.ID]; !ok {
				known[n.ID] = n.Addr
			}
		}
	}
	if strings.Contains(ref, ":") {
		for id, addr := range known {
			if addr == ref {
				return id, nil
			}
		}
		return "", fmt.Errorf("no node of the cluster has address %s", ref)
	}
	if _, ok := known[topology.NodeID(ref)]; ok {
		return topology.NodeID(ref), nil
	}
	if len(ref) >= 6 {
		var match []topology.NodeID
		for id := range known {
			if strings.HasPrefix(string(id), ref) {
				match = append(match, id)
			}
		}
		if len(match) == 1 {
			return match[0], nil
		}
		if len(match) > 1 {
			return "", fmt.Errorf("node ID prefix %q is ambiguous (%d nodes match)", ref, len(match))
		}
	}
	return "", fmt.Errorf("unknown node ID %q: no node of the cluster has it", ref)
}

// requireMaster returns nil when id, which the user named as ref with
// flag, is a reachable master, and otherwise an error saying what the
// node is: a replica of which master, or not reachable.
func requireMaster(snap *topology.Snapshot, flag, ref string, id topology.NodeID) error {
	self := snap.Self(id)
	switch {
	case self == nil:
		return fmt.Errorf("%s %s: node %s is not reachable; it must be a reachable master", flag, ref, nodeName(snap, id))
	case self.IsMaster():
		return nil
	case self.MasterID != "":
		return fmt.Errorf("%s %s: node %s is a replica of %s, not a master", flag, ref, nodeName(snap, id), nodeName(snap, self.MasterID))
	}
	return fmt.Errorf("%s %s: node %s is not a master (flags %s)", flag, ref, nodeName(snap, id), self.Flags)
}

// nodeName is "<short id> (<addr>)", or the short ID alone when no view
// lists an address for the node.
func nodeName(snap *topology.Snapshot, id topology.NodeID) string {
	if ns, ok := snap.Nodes[id]; ok {
		return fmt.Sprintf("%s (%s)", id.Short(), ns.Addr)
	}
	for _, ns := range snap.Nodes {
		if n := ns.View.Node(id); n != nil && n.Host() != "" {
			return fmt.Sprintf("%s (%s)", id.Short(), n.Addr)
		}
	}
	return id.Short()
}

// checkNodeRef refuses a node reference no node can have: empty, or an
// address that is not host:port with a port in range.
func checkNodeRef(what, ref string) error {
	switch {
	case strings.TrimSpace(ref) == "":
		return usageErrorf("%s is empty: want a node ID, ID prefix or host:port address", what)
	case strings.Contains(ref, ":"):
		if _, _, err := parseAddr(ref); err != nil {
			return usageErrorf("%s: %w", what, err)
		}
	}
	return nil
}
