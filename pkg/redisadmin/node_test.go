package redisadmin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

func TestStandaloneNodeGivesNotClusterModeError(t *testing.T) {
	nd := redisenv.Start(t, 1, redisenv.Standalone())[0]
	pool := NewPool(Options{})
	defer func() {
		if err := pool.Close(); err != nil {
			t.Errorf("close pool: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := pool.Node(nd.Addr)
	if ok, err := n.IsClusterEnabled(ctx); err != nil || ok {
		t.Fatalf("IsClusterEnabled = %v, %v; want false, nil", ok, err)
	}
	if err := n.RequireClusterMode(ctx); !errors.Is(err, ErrNotClusterMode) {
		t.Fatalf("RequireClusterMode = %v, want ErrNotClusterMode", err)
	}
	_, err := n.ClusterNodes(ctx)
	if !errors.Is(err, ErrNotClusterMode) {
		t.Fatalf("ClusterNodes on standalone = %v, want ErrNotClusterMode", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Addr != nd.Addr {
		t.Fatalf("error %v does not name the node %s", err, nd.Addr)
	}
}

// twoNodeCluster forms a 2-master cluster by hand: slots 0-8191 on a,
// 8192-16383 on b.
func twoNodeCluster(t *testing.T, pool *Pool, nodes []*redisenv.Node) (a, b *Node, ida, idb topology.NodeID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b = pool.Node(nodes[0].Addr), pool.Node(nodes[1].Addr)
	var err error
	if ida, err = a.MyID(ctx); err != nil {
		t.Fatal(err)
	}
	if idb, err = b.MyID(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.AddSlots(ctx, topology.RangeSet(0, 8191)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddSlots(ctx, topology.RangeSet(8192, 16383)); err != nil {
		t.Fatal(err)
	}
	if err := a.Meet(ctx, "127.0.0.1", nodes[1].Port, nodes[1].BusPort); err != nil {
		t.Fatal(err)
	}
	for {
		ci, err := b.ClusterInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := a.ClusterInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.StateOK && ca.StateOK {
			return a, b, ida, idb
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster did not become ok: %+v %+v", ca, ci)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestTypedErrorsFromRealServers(t *testing.T) {
	nodes := redisenv.Start(t, 2, redisenv.WithPassword("pw"), redisenv.WithNodeTimeout(500*time.Millisecond))
	pool := NewPool(Options{Password: "pw"})
	defer func() {
		if err := pool.Close(); err != nil {
			t.Errorf("close pool: %v", err)
		}
	}()
	a, b, ida, idb := twoNodeCluster(t, pool, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// MOVED: key "a" hashes to slot 15495, served by b.
	ca, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	err = wrap(a.Addr(), "GET", ca.Get(ctx, "a").Err())
	var e *Error
	if !errors.Is(err, ErrMoved) || !errors.As(err, &e) || e.Slot != 15495 || e.Target != b.Addr() {
		t.Fatalf("GET on the wrong node = %v (%+v), want MOVED 15495 %s", err, e, b.Addr())
	}

	// Multi-key MIGRATE with AUTH from the pool's password; then BUSYKEY,
	// then REPLACE.
	// Keys with hash tag {b} hash to slot 3300, served by a.
	keys := []string{"{b}1", "{b}2", "{b}3"}
	for _, k := range keys {
		if err := ca.Set(ctx, k, "from-a", 0).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	if err := b.SetSlotImporting(ctx, 3300, ida); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSlotMigrating(ctx, 3300, idb); err != nil {
		t.Fatal(err)
	}
	cb, err := b.Client()
	if err != nil {
		t.Fatal(err)
	}
	conn := cb.Conn()
	defer func() { _ = conn.Close() }()
	if err := conn.Do(ctx, "ASKING").Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Set(ctx, "{b}1", "stale", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = a.Migrate(ctx, MigrateArgs{Target: b.Addr(), Keys: keys})
	if !errors.Is(err, ErrBusyKey) {
		t.Fatalf("MIGRATE onto an existing key = %v, want ErrBusyKey", err)
	}
	moved, err := a.Migrate(ctx, MigrateArgs{Target: b.Addr(), Keys: keys, Replace: true})
	if err != nil || !moved {
		t.Fatalf("MIGRATE REPLACE = %v, %v", moved, err)
	}
	if n, err := a.CountKeysInSlot(ctx, 3300); err != nil || n != 0 {
		t.Fatalf("source still holds %d keys (%v)", n, err)
	}
	if n, err := b.CountKeysInSlot(ctx, 3300); err != nil || n != 3 {
		t.Fatalf("target holds %d keys (%v), want 3", n, err)
	}
	// ASK: the source redirects a missing key of a migrating slot.
	err = wrap(a.Addr(), "GET", ca.Get(ctx, "{b}1").Err())
	if !errors.Is(err, ErrAsk) || !errors.As(err, &e) || e.Slot != 3300 {
		t.Fatalf("GET of a moved key = %v, want ASK 3300", err)
	}
	moved, err = a.Migrate(ctx, MigrateArgs{Target: b.Addr(), Keys: keys})
	if err != nil || moved {
		t.Fatalf("MIGRATE of keys no longer on the source = %v, %v; want NOKEY", moved, err)
	}
}

func TestDiscoverRecordsUnreachableNodes(t *testing.T) {
	nodes := redisenv.Start(t, 3, redisenv.WithNodeTimeout(500*time.Millisecond))
	pool := NewPool(Options{DialTimeout: 200 * time.Millisecond})
	defer func() {
		if err := pool.Close(); err != nil {
			t.Errorf("close pool: %v", err)
		}
	}()
	a, _, ida, idb := twoNodeCluster(t, pool, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The third node joins empty, then dies.
	if err := a.Meet(ctx, "127.0.0.1", nodes[2].Port, nodes[2].BusPort); err != nil {
		t.Fatal(err)
	}
	for {
		v, err := a.ClusterNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Nodes) == 3 && v.Myself() != nil {
			known := 0
			for _, n := range v.Nodes {
				if !n.Flags.Has(topology.FlagHandshake) && n.Host() != "" {
					known++
				}
			}
			if known == 3 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	nodes[2].Kill()

	snap, err := Discover(ctx, pool, []string{nodes[0].Addr}, func(addr string) topology.Labels {
		return topology.Labels{Host: "h-" + addr}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Nodes) != 2 || snap.Nodes[ida] == nil || snap.Nodes[idb] == nil {
		t.Fatalf("discovered %v, want the two live masters", snap.IDs())
	}
	if _, ok := snap.Unreachable[nodes[2].Addr]; !ok || len(snap.Unreachable) != 1 {
		t.Fatalf("unreachable = %v, want exactly %s", snap.Unreachable, nodes[2].Addr)
	}
	st := snap.Nodes[ida]
	if st.Labels.Host != "h-"+nodes[0].Addr || !st.ClusterStateOK || st.Replication.Role != "master" || st.UsedMemory == 0 {
		t.Fatalf("node state incomplete: %+v", st)
	}

	// ObserveNodes queries only the addresses it is given: the dead peer
	// the replies mention is not visited.
	only, err := ObserveNodes(ctx, pool, []string{nodes[0].Addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(only.Nodes) != 1 || only.Nodes[ida] == nil || len(only.Unreachable) != 0 {
		t.Fatalf("ObserveNodes(%s) = nodes %v, unreachable %v; want only %s", nodes[0].Addr, only.IDs(), only.Unreachable, ida.Short())
	}

	nodes[0].Kill()
	nodes[1].Kill()
	if _, err := Discover(ctx, pool, []string{nodes[0].Addr, nodes[1].Addr}, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Discover with no live node = %v, want ErrUnreachable", err)
	}
}
