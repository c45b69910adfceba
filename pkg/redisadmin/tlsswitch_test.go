package redisadmin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

func TestTLSSwitchArgsSetOnlyWhatDiffersWithPortZeroBeforeTLSPort(t *testing.T) {
	files := TLSFiles{Cert: "/tls/tls.crt", Key: "/tls/tls.key", CA: "/tls/ca.crt"}
	want := TLSSwitch{Files: files, AuthClients: "optional", Port: 6379}
	plain := TLSState{Port: 6379, AuthClients: "yes"}
	switched := TLSState{TLSPort: 6379, Cluster: true, Replication: true, AuthClients: "optional", Files: files}
	cases := []struct {
		name string
		have TLSState
		want []string
		err  string
	}{
		{"sets everything on a plain node, port 0 before tls-port", plain, []string{
			"tls-cert-file", "/tls/tls.crt", "tls-key-file", "/tls/tls.key", "tls-ca-cert-file", "/tls/ca.crt",
			"tls-auth-clients", "optional", "tls-replication", "yes", "tls-cluster", "yes",
			"port", "0", "tls-port", "6379"}, ""},
		{"sets nothing on a switched node", switched, nil, ""},
		{"leaves the files when they are configured already",
			TLSState{Port: 6379, AuthClients: "optional", Files: files},
			[]string{"tls-replication", "yes", "tls-cluster", "yes", "port", "0", "tls-port", "6379"}, ""},
		{"sets the new certificate file of a switched node without touching the ports",
			func() TLSState { s := switched; s.Files.Cert = "/old.crt"; return s }(),
			[]string{"tls-cert-file", "/tls/tls.crt"}, ""},
		{"refuses a node serving another port", TLSState{Port: 7000}, nil, "want to switch port 6379"},
		{"refuses a node serving TLS on another port", TLSState{TLSPort: 7000}, nil, "want to switch port 6379"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := tlsSwitchArgs(c.have, want)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("args = %q\nwant   %q", got, c.want)
			}
		})
	}
	t.Run("switching back closes tls-port before opening port", func(t *testing.T) {
		got, err := plainSwitchArgs(switched, 6379)
		if err != nil {
			t.Fatal(err)
		}
		if w := []string{"tls-cluster", "no", "tls-replication", "no", "tls-port", "0", "port", "6379"}; !reflect.DeepEqual(got, w) {
			t.Fatalf("args = %q, want %q", got, w)
		}
	})
}

func TestTLSSwitchRefusesAnIncompleteRequestBeforeSendingAnything(t *testing.T) {
	files := TLSFiles{Cert: "c", Key: "k", CA: "ca"}
	cases := []struct {
		name string
		s    TLSSwitch
	}{
		{"unknown tls-auth-clients", TLSSwitch{Files: files, AuthClients: "true", Port: 6379}},
		{"no port", TLSSwitch{Files: files, AuthClients: "yes"}},
		{"no CA file", TLSSwitch{Files: TLSFiles{Cert: "c", Key: "k"}, AuthClients: "yes", Port: 6379}},
	}
	pool := NewPool(Options{})
	defer func() { _ = pool.Close() }()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// 127.0.0.1:1 refuses connections: an error that is not a
			// validation error would be ErrUnreachable.
			err := pool.Node("127.0.0.1:1").SwitchToTLS(context.Background(), c.s)
			if err == nil || errors.Is(err, ErrUnreachable) {
				t.Fatalf("SwitchToTLS = %v, want a validation error", err)
			}
		})
	}
}

// configSetCalls returns cmdstat_config|set's call count from INFO
// commandstats.
func configSetCalls(t *testing.T, ctx context.Context, n *Node) int {
	t.Helper()
	c, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	text, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	v, ok := infoFields(text)["cmdstat_config|set"]
	if !ok {
		return 0
	}
	calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
	k, err := strconv.Atoi(calls)
	if err != nil {
		t.Fatalf("cmdstat_config|set %q: %v", v, err)
	}
	return k
}

// servesPlainText reports whether a new plain-text connection to addr gets
// an answer to PING; it fails the test when the node answers neither that
// nor with a reset.
func servesPlainText(t *testing.T, ctx context.Context, addr string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := dialPlainText(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("plain-text PING to %s: %v", addr, err)
	}
	if c == nil {
		return false
	}
	_ = c.Close()
	return true
}

func TestSwitchToTLSOpensTLSOnTheSamePortOverAConnectionThatSurvives(t *testing.T) {
	certs := redisenv.NewCerts(t)
	nd := redisenv.Start(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One connection: the switch and every later call share it.
	pool := NewPool(Options{PoolSize: 1, MaxRetries: -1})
	defer func() { _ = pool.Close() }()
	node := pool.Node(nd.Addr)
	if err := node.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	sw := TLSSwitch{Files: TLSFiles{Cert: certs.ServerCertFile, Key: certs.ServerKeyFile, CA: certs.CAFile}, AuthClients: "yes", Port: nd.Port}

	start := time.Now()
	if err := node.SwitchToTLS(ctx, sw); err != nil {
		t.Fatalf("SwitchToTLS: %v", err)
	}
	t.Logf("SwitchToTLS took %s", time.Since(start))
	st, err := node.TLSState(ctx)
	if err != nil {
		t.Fatalf("the plain-text connection did not survive the switch: %v", err)
	}
	if !st.Switched() || st.TLSPort != nd.Port || st.AuthClients != "yes" || st.Files != sw.Files {
		t.Fatalf("after the switch: %+v", st)
	}
	if servesPlainText(t, ctx, nd.Addr) {
		t.Fatal("a new plain-text connection is still answered")
	}
	if err := tlsPing(t, nd.Addr, Options{TLSConfig: certs.ClientTLSConfig()}); err != nil {
		t.Fatalf("TLS on the same port: %v", err)
	}

	t.Run("a second switch sends nothing and succeeds", func(t *testing.T) {
		before := configSetCalls(t, ctx, node)
		if err := node.SwitchToTLS(ctx, sw); err != nil {
			t.Fatalf("second SwitchToTLS: %v", err)
		}
		if after := configSetCalls(t, ctx, node); after != before {
			t.Fatalf("CONFIG SET calls went from %d to %d", before, after)
		}
	})
	t.Run("a switch to another port is refused", func(t *testing.T) {
		other := sw
		other.Port = nd.Port + 1
		if err := node.SwitchToTLS(ctx, other); err == nil || !strings.Contains(err.Error(), "want to switch port") {
			t.Fatalf("SwitchToTLS to another port = %v", err)
		}
	})
	t.Run("SwitchToPlain goes back on the same port", func(t *testing.T) {
		if err := node.SwitchToPlain(ctx, nd.Port); err != nil {
			t.Fatalf("SwitchToPlain: %v", err)
		}
		if !servesPlainText(t, ctx, nd.Addr) {
			t.Fatal("no plain-text answer after SwitchToPlain")
		}
		st, err := node.TLSState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Switched() || st.Port != nd.Port || st.TLSPort != 0 || st.Cluster || st.Replication {
			t.Fatalf("after SwitchToPlain: %+v", st)
		}
	})
}

func TestSwitchToTLSThatFailsLeavesTheNodeServingPlainText(t *testing.T) {
	certs := redisenv.NewCerts(t)
	nd := redisenv.Start(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := NewPool(Options{})
	defer func() { _ = pool.Close() }()
	node := pool.Node(nd.Addr)
	before, err := node.TLSState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The key is not the certificate's: OpenSSL refuses the pair when the
	// TLS context is built, after every value of the call was set.
	sw := TLSSwitch{Files: TLSFiles{Cert: certs.ServerCertFile, Key: certs.ClientKeyFile, CA: certs.CAFile}, AuthClients: "yes", Port: nd.Port}
	err = node.SwitchToTLS(ctx, sw)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindServer {
		t.Fatalf("SwitchToTLS with a mismatched key = %v, want a server error", err)
	}
	t.Logf("refused: %v", err)
	after, err := node.TLSState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("a refused switch changed the node:\nbefore %+v\nafter  %+v", before, after)
	}
	if !servesPlainText(t, ctx, nd.Addr) {
		t.Fatal("the node no longer answers plain text")
	}

	// Why SwitchToTLS sends port 0 before tls-port: Redis applies the
	// values in argument order, and the other order fails to bind the TLS
	// listener while the plain one holds the number. Every value of the
	// call, port 0 included, is then restored.
	c, err := node.Client()
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(ctx, "CONFIG", "SET", "tls-cert-file", certs.ServerCertFile, "tls-key-file", certs.ServerKeyFile, "tls-ca-cert-file", certs.CAFile,
		"tls-cluster", "yes", "tls-port", strconv.Itoa(nd.Port), "port", "0").Err()
	if err == nil || !strings.Contains(err.Error(), "tls-port") {
		t.Fatalf("CONFIG SET tls-port before port = %v, want a bind failure", err)
	}
	t.Logf("tls-port before port: %v", err)
	if after, err := node.TLSState(ctx); err != nil || after.Port != nd.Port || after.TLSPort != 0 || after.Cluster {
		t.Fatalf("after the failed reverse order: %+v, %v", after, err)
	}
	if !servesPlainText(t, ctx, nd.Addr) {
		t.Fatal("the node no longer answers plain text after the failed reverse order")
	}
}

func TestPlainTextFallbackPoolReachesPlainAndTLSNodes(t *testing.T) {
	certs := redisenv.NewCerts(t)
	plain := redisenv.Start(t, 1, redisenv.WithPassword("pw"))[0]
	secure := redisenv.Start(t, 1, redisenv.WithTLS(certs), redisenv.WithPassword("pw"))[0]
	paused := redisenv.Start(t, 1)[0]
	paused.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const dialTimeout = time.Second
	opts := Options{TLSConfig: certs.ClientTLSConfig(), PlainTextFallback: true, Password: "pw", DialTimeout: dialTimeout, MaxRetries: -1}

	cases := []struct {
		name    string
		addr    string
		wantTLS bool
	}{
		{"a plain-text node (NOAUTH reply) is used in plain text", plain.Addr, false},
		{"a TLS node is dialed again with TLS", secure.Addr, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			conn, err := fallbackDialer(opts.TLSConfig, dialTimeout)(ctx, "tcp", c.addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			took := time.Since(start)
			_ = conn.Close()
			if _, isTLS := conn.(*tls.Conn); isTLS != c.wantTLS {
				t.Fatalf("dial returned a %T, want TLS %v", conn, c.wantTLS)
			}
			t.Logf("dial took %s", took)
			plainText, err := ServesPlainText(ctx, c.addr, dialTimeout)
			if err != nil || plainText == c.wantTLS {
				t.Fatalf("ServesPlainText = %v, %v; want %v", plainText, err, !c.wantTLS)
			}
			if err := tlsPing(t, c.addr, opts); err != nil {
				t.Fatalf("Ping through the pool: %v", err)
			}
		})
	}
	t.Run("one pool reaches both", func(t *testing.T) {
		pool := NewPool(opts)
		defer func() { _ = pool.Close() }()
		for _, addr := range []string{plain.Addr, secure.Addr} {
			if err := pool.Node(addr).Ping(ctx); err != nil {
				t.Fatalf("Ping %s: %v", addr, err)
			}
		}
	})
	t.Run("a node that answers neither fails at the dial timeout", func(t *testing.T) {
		start := time.Now()
		err := tlsPing(t, paused.Addr, opts)
		var perr *ProbeError
		if !errors.As(err, &perr) || perr.Addr != paused.Addr || !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Ping = %v, want an unreachable *ProbeError", err)
		}
		if took := time.Since(start); took < dialTimeout {
			t.Errorf("failed after %s, before the dial timeout of %s", took, dialTimeout)
		}
		if plainText, err := ServesPlainText(ctx, paused.Addr, dialTimeout); err == nil {
			t.Errorf("ServesPlainText of a node that answers nothing = %v, nil; want an error", plainText)
		}
	})
	t.Run("a refused dial is not retried with TLS", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		_, err = fallbackDialer(opts.TLSConfig, dialTimeout)(ctx, "tcp", addr)
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			t.Fatalf("dial = %v, want the refused dial", err)
		}
	})
}

// switchNodeTimeout is cluster-node-timeout in the cluster tests: short,
// so that a link that does not come back is noticed within seconds.
const switchNodeTimeout = 2 * time.Second

// switchCluster is a cluster of plain-text nodes whose certificate files
// are in place, formed as masters nodes[:k] with replica nodes[k+i] of
// master i, and the operator's pool over it (TLS with plain-text fallback).
type switchCluster struct {
	nodes []*redisenv.Node
	certs *redisenv.Certs
	op    *Pool
	ids   []topology.NodeID
}

func newSwitchCluster(t *testing.T, masters, replicas int) *switchCluster {
	t.Helper()
	certs := redisenv.NewCerts(t)
	nodes := redisenv.Start(t, masters*(1+replicas), redisenv.WithTLSFiles(certs),
		redisenv.WithNodeTimeout(switchNodeTimeout), redisenv.WithConfig("enable-debug-command", "yes"))
	op := NewPool(Options{TLSConfig: certs.ClientTLSConfig(), PlainTextFallback: true, CallTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = op.Close() })
	sc := &switchCluster{nodes: nodes, certs: certs, op: op}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, nd := range nodes {
		id, err := op.Node(nd.Addr).MyID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sc.ids = append(sc.ids, id)
	}
	per := topology.SlotCount / masters
	for i := range masters {
		last := (i+1)*per - 1
		if i == masters-1 {
			last = topology.SlotCount - 1
		}
		if err := op.Node(nodes[i].Addr).AddSlots(ctx, topology.RangeSet(i*per, last)); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range nodes[1:] {
		if err := op.Node(nodes[0].Addr).Meet(ctx, "127.0.0.1", nd.Port, nd.BusPort); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, ctx, "all nodes know each other", func() bool {
		for _, nd := range nodes {
			ci, err := op.Node(nd.Addr).ClusterInfo(ctx)
			if err != nil || ci.KnownNodes != len(nodes) {
				return false
			}
		}
		return true
	})
	for r := masters; r < len(nodes); r++ {
		master := sc.ids[(r-masters)%masters]
		waitUntil(t, ctx, "replicate", func() bool { return op.Node(nodes[r].Addr).Replicate(ctx, master) == nil })
	}
	sc.waitHealthy(t, ctx, "the plain-text cluster forms")
	return sc
}

// sw is the TLSSwitch of node i.
func (sc *switchCluster) sw(i int) TLSSwitch {
	c := sc.certs
	return TLSSwitch{Files: TLSFiles{Cert: c.ServerCertFile, Key: c.ServerKeyFile, CA: c.CAFile}, AuthClients: "yes", Port: sc.nodes[i].Port}
}

// health returns nil when every node reports cluster_state:ok, knows
// every node, has a bus link to each and flags none as failing, and every
// replica's link to its master is up.
func (sc *switchCluster) health(ctx context.Context) error {
	for _, nd := range sc.nodes {
		n := sc.op.Node(nd.Addr)
		ci, err := n.ClusterInfo(ctx)
		if err != nil {
			return err
		}
		if !ci.StateOK || ci.KnownNodes != len(sc.nodes) {
			return fmt.Errorf("%s: cluster info %+v", nd.Addr, ci)
		}
		v, err := n.ClusterNodes(ctx)
		if err != nil {
			return err
		}
		for _, p := range v.Nodes {
			if p.Failing() {
				return fmt.Errorf("%s flags %s %s", nd.Addr, p.Addr, p.Flags)
			}
			if !p.IsMyself() && !p.Connected {
				return fmt.Errorf("%s has no bus link to %s", nd.Addr, p.Addr)
			}
		}
		r, err := n.InfoReplication(ctx)
		if err != nil {
			return err
		}
		if r.Role == "slave" && (!r.MasterLinkUp || r.MasterSyncInProgress) {
			return fmt.Errorf("%s: replication link down: %+v", nd.Addr, r)
		}
	}
	return nil
}

func (sc *switchCluster) waitHealthy(t *testing.T, ctx context.Context, what string) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	waitUntil(t, ctx, what, func() bool { last = sc.health(ctx); return last == nil })
	if last != nil {
		t.Fatalf("%s: %v", what, last)
	}
	return time.Since(start)
}

// holdHealthy checks health every 100 ms for d and fails at the first
// miss.
func (sc *switchCluster) holdHealthy(t *testing.T, ctx context.Context, d time.Duration, what string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		if err := sc.health(ctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// addresses returns every node's "ip:port@cport" as node i sees them.
func (sc *switchCluster) addresses(t *testing.T, ctx context.Context, i int) map[topology.NodeID]string {
	t.Helper()
	v, err := sc.op.Node(sc.nodes[i].Addr).ClusterNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[topology.NodeID]string{}
	for _, p := range v.Nodes {
		out[p.ID] = fmt.Sprintf("%s@%d", p.Addr, p.BusPort)
	}
	return out
}

// links returns node i's cluster bus links as "direction peer" → create
// time.
func (sc *switchCluster) links(t *testing.T, ctx context.Context, i int) map[string]int64 {
	t.Helper()
	c, err := sc.op.Node(sc.nodes[i].Addr).Client()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := c.ClusterLinks(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER LINKS: %v", err)
	}
	out := map[string]int64{}
	for _, l := range ls {
		out[l.Direction+" "+l.Node] = l.CreateTime
	}
	return out
}

// switchAll calls SwitchToTLS on the nodes given, in quick succession.
func (sc *switchCluster) switchAll(t *testing.T, ctx context.Context, which ...int) {
	t.Helper()
	start := time.Now()
	for _, i := range which {
		if err := sc.op.Node(sc.nodes[i].Addr).SwitchToTLS(ctx, sc.sw(i)); err != nil {
			t.Fatalf("SwitchToTLS %s: %v", sc.nodes[i].Addr, err)
		}
	}
	t.Logf("switched %d nodes in %s", len(which), time.Since(start))
}

// writer sets keys through a cluster client with the plain-text fallback
// dialer until stopped, and remembers which writes were acknowledged.
type writer struct {
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	acked []int
	errs  int
	last  error
}

func startWriter(t *testing.T, addrs []string, cfg *tls.Config) *writer {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs, Dialer: fallbackDialer(cfg, 2*time.Second),
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, Protocol: 2,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer func() { _ = cc.Close() }()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := cc.Set(ctx, "tls:"+strconv.Itoa(i), i, 0).Err()
			cancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, i)
			} else {
				w.errs++
				w.last = err
			}
			w.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(w.halt)
	return w
}

func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *writer) count() (acked, errs int, last error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), w.errs, w.last
}

// wantProgress fails unless the writer acknowledged more writes than
// before within a few seconds; it returns the new count.
func (w *writer) wantProgress(t *testing.T, before int, phase string) int {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n, _, _ := w.count(); n > before+50 {
			return n
		}
	}
	n, errs, last := w.count()
	t.Fatalf("%s: the writer is stuck at %d acknowledged writes (%d errors, last %v)", phase, n, errs, last)
	return n
}

// TestClusterSwitchedToTLSLiveStaysOKAndRestartsIntoTLS switches a running
// 3+3 cluster to TLS with SwitchToTLS (first half the nodes, then the
// rest) while a client writes, then restarts every node with a full TLS
// redis.conf, replicas first and each master after a failover to its
// replica. It asserts the state of the cluster at every step.
func TestClusterSwitchedToTLSLiveStaysOKAndRestartsIntoTLS(t *testing.T) {
	sc := newSwitchCluster(t, 3, 1)
	nodes := sc.nodes
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addrs := make([]string, len(nodes))
	for i, nd := range nodes {
		addrs[i] = nd.Addr
	}
	w := startWriter(t, addrs, sc.certs.ClientTLSConfig())
	acked := w.wantProgress(t, 0, "plain text")
	before := sc.addresses(t, ctx, 0)

	// Masters 0 and 1 and the replica of master 2: a switched master with a
	// plain replica, a plain master with a switched replica.
	half := []int{0, 1, 5}
	t.Run("half switched keeps every link and stays ok past the node timeout", func(t *testing.T) {
		linksBefore := sc.links(t, ctx, 0)
		sc.switchAll(t, ctx, half...)
		sc.holdHealthy(t, ctx, 3*switchNodeTimeout, "half switched")
		if after := sc.links(t, ctx, 0); !reflect.DeepEqual(after, linksBefore) {
			t.Errorf("node 0's bus links changed:\nbefore %v\nafter  %v", linksBefore, after)
		}
		acked = w.wantProgress(t, acked, "half switched")
	})
	t.Run("all switched serve TLS only on the same ports and stay ok", func(t *testing.T) {
		sc.switchAll(t, ctx, 2, 3, 4)
		for i, nd := range nodes {
			if servesPlainText(t, ctx, nd.Addr) {
				t.Errorf("%s still answers plain text", nd.Addr)
			}
			if err := tlsPing(t, nd.Addr, Options{TLSConfig: sc.certs.ClientTLSConfig()}); err != nil {
				t.Errorf("TLS to %s: %v", nd.Addr, err)
			}
			if got := sc.addresses(t, ctx, i); !reflect.DeepEqual(got, before) {
				t.Errorf("node %d announces other addresses:\nbefore %v\nafter  %v", i, before, got)
			}
		}
		sc.holdHealthy(t, ctx, 2*switchNodeTimeout+time.Second, "all switched")
		acked = w.wantProgress(t, acked, "all switched")
	})
	t.Run("a second switch of every node succeeds", func(t *testing.T) {
		sc.switchAll(t, ctx, 0, 1, 2, 3, 4, 5)
	})
	t.Run("links that break reconnect over TLS", func(t *testing.T) {
		// Node 0 drops its bus links with node 1; replica 3 drops its link
		// to master 0. Both come back only as TLS links now.
		c0, err := sc.op.Node(nodes[0].Addr).Client()
		if err != nil {
			t.Fatal(err)
		}
		linksBefore := sc.links(t, ctx, 0)
		if err := c0.Do(ctx, "DEBUG", "CLUSTERLINK", "KILL", "ALL", string(sc.ids[1])).Err(); err != nil {
			t.Fatalf("DEBUG CLUSTERLINK KILL: %v", err)
		}
		c3, err := sc.op.Node(nodes[3].Addr).Client()
		if err != nil {
			t.Fatal(err)
		}
		if err := c3.Do(ctx, "CLIENT", "KILL", "TYPE", "master").Err(); err != nil {
			t.Fatalf("CLIENT KILL TYPE master: %v", err)
		}
		start := time.Now()
		waitUntil(t, ctx, "node 0's links with node 1 come back", func() bool {
			after := sc.links(t, ctx, 0)
			for _, dir := range []string{"to ", "from "} {
				k := dir + string(sc.ids[1])
				if after[k] == 0 || after[k] == linksBefore[k] {
					return false
				}
			}
			return true
		})
		t.Logf("node 0's links with node 1 replaced after %s", time.Since(start))
		took := sc.waitHealthy(t, ctx, "links come back")
		t.Logf("healthy again after %s", took)
		sc.holdHealthy(t, ctx, switchNodeTimeout, "after the links came back")
	})
	t.Run("restarted with a full TLS config each node rejoins with its ID", func(t *testing.T) {
		restart := func(i int) {
			t.Helper()
			start := time.Now()
			nodes[i].RestartWithTLS()
			if err := sc.op.Drop(nodes[i].Addr); err != nil {
				t.Fatal(err)
			}
			id, err := sc.op.Node(nodes[i].Addr).MyID(ctx)
			if err != nil || id != sc.ids[i] {
				t.Fatalf("node %d came back as %q (%v), want %s", i, id, err, sc.ids[i])
			}
			took := sc.waitHealthy(t, ctx, fmt.Sprintf("node %d restarted", i))
			t.Logf("node %d restarted; cluster healthy %s after its start (%s in all)", i, took, time.Since(start))
			if st, err := sc.op.Node(nodes[i].Addr).TLSState(ctx); err != nil || !st.Switched() || st.TLSPort != nodes[i].Port {
				t.Fatalf("node %d after the restart: %+v, %v", i, st, err)
			}
		}
		for m := range 3 {
			r := m + 3
			restart(r)
			if err := sc.op.Node(nodes[r].Addr).ClusterFailover(ctx, FailoverDefault); err != nil {
				t.Fatalf("failover to node %d: %v", r, err)
			}
			fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
			waitUntil(t, fctx, "failover", func() bool {
				rr, err1 := sc.op.Node(nodes[r].Addr).Role(ctx)
				mr, err2 := sc.op.Node(nodes[m].Addr).Role(ctx)
				return err1 == nil && err2 == nil && rr == "master" && mr == "slave"
			})
			fcancel()
			sc.waitHealthy(t, ctx, fmt.Sprintf("after the failover to node %d", r))
			restart(m)
			acked = w.wantProgress(t, acked, fmt.Sprintf("shard %d restarted", m))
		}
		for i := range nodes {
			if got := sc.addresses(t, ctx, i); !reflect.DeepEqual(got, before) {
				t.Errorf("node %d announces other addresses after the restarts:\nbefore %v\nafter  %v", i, before, got)
			}
			if servesPlainText(t, ctx, nodes[i].Addr) {
				t.Errorf("%s answers plain text after its restart", nodes[i].Addr)
			}
		}
		sc.holdHealthy(t, ctx, 2*switchNodeTimeout, "all restarted")
		if err := sc.op.Node(nodes[0].Addr).SwitchToTLS(ctx, sc.sw(0)); err != nil {
			t.Fatalf("SwitchToTLS on a node restarted with TLS: %v", err)
		}
	})
	t.Run("every acknowledged write is there", func(t *testing.T) {
		w.halt()
		_, errs, last := w.count()
		t.Logf("writer: %d acknowledged writes, %d errors (last %v)", len(w.acked), errs, last)
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, TLSConfig: sc.certs.ClientTLSConfig(), Protocol: 2,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
		defer func() { _ = cc.Close() }()
		cmds := make([]*redis.StringCmd, len(w.acked))
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, i := range w.acked {
				cmds[j] = p.Get(ctx, "tls:"+strconv.Itoa(i))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("read back over TLS: %v", err)
		}
		for j, i := range w.acked {
			if v, err := cmds[j].Result(); err != nil || v != strconv.Itoa(i) {
				t.Fatalf("key tls:%d = %q, %v", i, v, err)
			}
		}
	})
}

// TestHalfSwitchedClusterCannotRebuildALinkBetweenTheHalves records why
// the switch must reach every node quickly: a bus link between a switched
// and a plain-text node that breaks is retried with TLS on one side and
// plain text on the other, and fails until both are switched.
func TestHalfSwitchedClusterCannotRebuildALinkBetweenTheHalves(t *testing.T) {
	sc := newSwitchCluster(t, 3, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc.switchAll(t, ctx, 0)
	c0, err := sc.op.Node(sc.nodes[0].Addr).Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := c0.Do(ctx, "DEBUG", "CLUSTERLINK", "KILL", "ALL", string(sc.ids[1])).Err(); err != nil {
		t.Fatalf("DEBUG CLUSTERLINK KILL: %v", err)
	}
	start := time.Now()
	waitUntil(t, ctx, "node 0 flags node 1", func() bool {
		v, err := sc.op.Node(sc.nodes[0].Addr).ClusterNodes(ctx)
		if err != nil {
			return false
		}
		p := v.Node(sc.ids[1])
		return p != nil && p.Failing()
	})
	t.Logf("node 0 flagged node 1 as failing %s after the links broke", time.Since(start))
	for i, nd := range sc.nodes {
		ci, err := sc.op.Node(nd.Addr).ClusterInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := sc.op.Node(nd.Addr).ClusterNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var flags []string
		for _, p := range v.Nodes {
			flags = append(flags, p.ID.Short()+":"+p.Flags.String())
		}
		t.Logf("node %d: cluster_state ok %v, sees %v", i, ci.StateOK, flags)
	}
	sc.switchAll(t, ctx, 1, 2)
	took := sc.waitHealthy(t, ctx, "healed once both are switched")
	t.Logf("healthy %s after the rest were switched", took)
}
