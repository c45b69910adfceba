package redisadmin

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// TLSSwitch is the TLS configuration SwitchToTLS gives a running node.
type TLSSwitch struct {
	// Files are the certificate, key and CA files, already on the node's
	// file system.
	Files TLSFiles
	// AuthClients is tls-auth-clients: "yes", "no" or "optional".
	AuthClients string
	// Port is the node's client port number. It is kept: the plain-text
	// listener on it is closed and a TLS listener opened on the same
	// number, so the node's address, and the cluster bus port derived
	// from it, do not change.
	Port int
}

// TLSState is a node's TLS configuration as CONFIG GET reports it.
type TLSState struct {
	// Port is the plain-text client port (0: closed).
	Port int
	// TLSPort is the TLS client port (0: closed).
	TLSPort int
	// Cluster and Replication are tls-cluster and tls-replication: whether
	// the bus links and the replication link the node opens or accepts
	// from now on use TLS.
	Cluster, Replication bool
	// AuthClients is tls-auth-clients ("yes", "no" or "optional").
	AuthClients string
	// Files are the configured TLS file paths (empty when unset).
	Files TLSFiles
}

// Switched reports whether the node serves clients over TLS only and opens
// and accepts bus and replication links over TLS.
func (s TLSState) Switched() bool {
	return s.Port == 0 && s.TLSPort != 0 && s.Cluster && s.Replication
}

// tlsConfigKeys are the parameters TLSState reads.
var tlsConfigKeys = []any{
	"port", "tls-port", "tls-cluster", "tls-replication", "tls-auth-clients",
	"tls-cert-file", "tls-key-file", "tls-ca-cert-file",
}

// TLSState reads the node's TLS configuration in one CONFIG GET.
func (n *Node) TLSState(ctx context.Context) (TLSState, error) {
	var st TLSState
	err := n.call(ctx, "CONFIG GET tls-*", func(ctx context.Context, c *redis.Client) error {
		kv, err := c.Do(ctx, append([]any{"CONFIG", "GET"}, tlsConfigKeys...)...).StringSlice()
		if err != nil {
			return err
		}
		st, err = parseTLSState(kv)
		return err
	})
	return st, err
}

// parseTLSState reads the flat key/value reply of CONFIG GET.
func parseTLSState(kv []string) (TLSState, error) {
	if len(kv)%2 != 0 {
		return TLSState{}, fmt.Errorf("CONFIG GET reply has %d elements, want pairs", len(kv))
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	for _, k := range tlsConfigKeys {
		if _, ok := m[k.(string)]; !ok {
			return TLSState{}, fmt.Errorf("CONFIG GET did not report %s (is the server built with TLS?)", k)
		}
	}
	port, err := strconv.Atoi(m["port"])
	if err != nil {
		return TLSState{}, fmt.Errorf("port %q: %w", m["port"], err)
	}
	tlsPort, err := strconv.Atoi(m["tls-port"])
	if err != nil {
		return TLSState{}, fmt.Errorf("tls-port %q: %w", m["tls-port"], err)
	}
	return TLSState{
		Port: port, TLSPort: tlsPort,
		Cluster: m["tls-cluster"] == "yes", Replication: m["tls-replication"] == "yes",
		AuthClients: m["tls-auth-clients"],
		Files:       TLSFiles{Cert: m["tls-cert-file"], Key: m["tls-key-file"], CA: m["tls-ca-cert-file"]},
	}, nil
}

// SwitchToTLS turns TLS on in a running node, without a restart, in one
// CONFIG SET that Redis applies all or none: the TLS files,
// tls-auth-clients, tls-replication yes, tls-cluster yes, then port 0 and
// tls-port s.Port. Parameters the node already has are left out, so on a
// node already switched it sends nothing and returns nil: a pass that
// stopped between nodes can call it on every node again.
//
// What Redis 7.0 (verified on 7.0.15) does with it:
//   - It applies the parameters in argument order, so the plain listener
//     is closed before the TLS one binds the same number (the other order
//     fails with "Address already in use"). A failure (a file that does
//     not load, a port that cannot be bound) restores every parameter of
//     the call: the node keeps serving plain text.
//   - Connections accepted before, like the one this call is sent on,
//     stay open in plain text and get the reply; new plain-text
//     connections are reset at once.
//   - A cluster bus link is TLS or not by tls-cluster when it is created
//     or accepted (clusterCron, clusterAcceptHandler); links already open
//     stay plain text (CLUSTER LINKS keeps their create times) and the
//     cluster stays ok past the node timeout. Likewise the replication
//     link follows tls-replication when the replica reconnects. Links
//     that break after every node is switched come back over TLS.
//   - While some nodes are switched and others not, a link between the
//     two groups that breaks cannot come back (TLS on one side, plain
//     text on the other): the peer is flagged PFAIL after about the node
//     timeout, until both are switched. So switch all nodes in quick
//     succession. Restarting each node with a full TLS redis.conf
//     afterwards replaces the remaining plain-text links.
//   - The announced address, client port (tls-port under tls-cluster) and
//     bus port (cluster-port, or the client port + 10000), keep their
//     numbers: CLUSTER NODES does not change.
//
// The node must serve plain text on s.Port or TLS on it already; any other
// port, like an incomplete s, is refused before anything is set, with an
// error that is not ErrUnreachable.
func (n *Node) SwitchToTLS(ctx context.Context, s TLSSwitch) error {
	const op = "CONFIG SET tls-port"
	if err := s.validate(); err != nil {
		return fmt.Errorf("redisadmin: %s: switch to TLS: %w", n.addr, err)
	}
	st, err := n.TLSState(ctx)
	if err != nil {
		return err
	}
	args, err := tlsSwitchArgs(st, s)
	if err != nil {
		return fmt.Errorf("redisadmin: %s: switch to TLS: %w", n.addr, err)
	}
	return n.configSet(ctx, op, args)
}

// SwitchToPlain is the reverse of SwitchToTLS: tls-cluster and
// tls-replication no, then tls-port 0 and port on the same number, in one
// CONFIG SET. The TLS files and tls-auth-clients are left as they are. It
// sends nothing to a node already serving plain text on port.
func (n *Node) SwitchToPlain(ctx context.Context, port int) error {
	const op = "CONFIG SET port"
	if port <= 0 || port > 65535 {
		return fmt.Errorf("redisadmin: %s: switch to plain text: invalid port %d", n.addr, port)
	}
	st, err := n.TLSState(ctx)
	if err != nil {
		return err
	}
	args, err := plainSwitchArgs(st, port)
	if err != nil {
		return fmt.Errorf("redisadmin: %s: switch to plain text: %w", n.addr, err)
	}
	return n.configSet(ctx, op, args)
}

// configSet sends CONFIG SET with the key/value pairs of args; none sends
// nothing.
func (n *Node) configSet(ctx context.Context, op string, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return n.call(ctx, op, func(ctx context.Context, c *redis.Client) error {
		cmd := make([]any, 0, 2+len(args))
		cmd = append(cmd, "CONFIG", "SET")
		for _, a := range args {
			cmd = append(cmd, a)
		}
		return c.Do(ctx, cmd...).Err()
	})
}

func (s TLSSwitch) validate() error {
	switch s.AuthClients {
	case "yes", "no", "optional":
	default:
		return fmt.Errorf("tls-auth-clients %q: want yes, no or optional", s.AuthClients)
	}
	if s.Port <= 0 || s.Port > 65535 {
		return fmt.Errorf("invalid port %d", s.Port)
	}
	if s.Files.Cert == "" || s.Files.Key == "" || s.Files.CA == "" {
		return fmt.Errorf("TLS files %+v: the certificate, key and CA file are all required", s.Files)
	}
	return nil
}

// tlsSwitchArgs returns the CONFIG SET pairs that take a node from st to
// s, in the order Redis must apply them: TLS settings first, then port 0
// before tls-port (both listeners cannot hold one number). It refuses a
// node whose ports are not s.Port.
func tlsSwitchArgs(st TLSState, s TLSSwitch) ([]string, error) {
	if st.Port != 0 && st.Port != s.Port || st.TLSPort != 0 && st.TLSPort != s.Port {
		return nil, fmt.Errorf("node serves port %d and tls-port %d, want to switch port %d", st.Port, st.TLSPort, s.Port)
	}
	var args []string
	set := func(key, have, want string) {
		if have != want {
			args = append(args, key, want)
		}
	}
	set("tls-cert-file", st.Files.Cert, s.Files.Cert)
	set("tls-key-file", st.Files.Key, s.Files.Key)
	set("tls-ca-cert-file", st.Files.CA, s.Files.CA)
	set("tls-auth-clients", st.AuthClients, s.AuthClients)
	set("tls-replication", yesNo(st.Replication), "yes")
	set("tls-cluster", yesNo(st.Cluster), "yes")
	set("port", strconv.Itoa(st.Port), "0")
	set("tls-port", strconv.Itoa(st.TLSPort), strconv.Itoa(s.Port))
	return args, nil
}

// plainSwitchArgs is tlsSwitchArgs for SwitchToPlain: tls-port 0 before
// port.
func plainSwitchArgs(st TLSState, port int) ([]string, error) {
	if st.Port != 0 && st.Port != port || st.TLSPort != 0 && st.TLSPort != port {
		return nil, fmt.Errorf("node serves port %d and tls-port %d, want to switch port %d", st.Port, st.TLSPort, port)
	}
	var args []string
	set := func(key, have, want string) {
		if have != want {
			args = append(args, key, want)
		}
	}
	set("tls-cluster", yesNo(st.Cluster), "no")
	set("tls-replication", yesNo(st.Replication), "no")
	set("tls-port", strconv.Itoa(st.TLSPort), "0")
	set("port", strconv.Itoa(st.Port), strconv.Itoa(port))
	return args, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
