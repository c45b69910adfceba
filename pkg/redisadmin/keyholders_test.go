package redisadmin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/topology"
	"github.com/redkube/redkube/test/redisenv"
)

// A 2-master cluster (a: 0-8191, b: 8192-16383) with a replica of a, and
// keys in four slots of a: one open slot whose keys are partly moved to b,
// one open slot split evenly, one slot a no longer owns, one slot left
// alone.
func TestKeyHoldersListsMastersWithKeysMostFirst(t *testing.T) {
	nodes := redisenv.Start(t, 3, redisenv.WithNodeTimeout(500*time.Millisecond))
	pool := NewPool(Options{})
	defer func() {
		if err := pool.Close(); err != nil {
			t.Errorf("close pool: %v", err)
		}
	}()
	a, b, ida, idb := twoNodeCluster(t, pool, nodes[:2])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ca, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}

	// Four hash tags whose slots a serves, and their keys.
	var tags []string
	var slot []int
	for i := 0; len(tags) < 4; i++ {
		tag := fmt.Sprintf("t%d", i)
		x, err := ca.ClusterKeySlot(ctx, tag).Result()
		if err != nil {
			t.Fatal(err)
		}
		if x <= 8191 && !slices.Contains(slot, int(x)) {
			tags, slot = append(tags, tag), append(slot, int(x))
		}
	}
	key := func(tag string, i int) string { return fmt.Sprintf("{%s}%d", tag, i) }
	for ti, tag := range tags {
		for i := range 3 - ti%2 { // 3, 2, 3, 2 keys
			if err := ca.Set(ctx, key(tag, i), "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	open2to1, openTie, uncovered, untouched := slot[0], slot[1], slot[2], slot[3]
	for _, x := range []int{open2to1, openTie} {
		if err := b.SetSlotImporting(ctx, x, ida); err != nil {
			t.Fatal(err)
		}
		if err := a.SetSlotMigrating(ctx, x, idb); err != nil {
			t.Fatal(err)
		}
		tag := tags[slices.Index(slot, x)]
		if _, err := a.Migrate(ctx, MigrateArgs{Target: b.Addr(), Keys: []string{key(tag, 0)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ca.Do(ctx, "CLUSTER", "DELSLOTS", uncovered).Err(); err != nil {
		t.Fatal(err)
	}

	// The replica holds copies of a's keys; it must not be named.
	r := pool.Node(nodes[2].Addr)
	if err := r.Meet(ctx, "127.0.0.1", nodes[0].Port, nodes[0].BusPort); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "the replica knows a", func() bool {
		v, err := r.ClusterNodes(ctx)
		return err == nil && v.Node(ida) != nil
	})
	if err := r.Replicate(ctx, ida); err != nil {
		t.Fatal(err)
	}
	akeys, err := a.DBSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "the replica holds a's keys", func() bool {
		n, err := r.DBSize(ctx)
		return err == nil && n == akeys
	})

	snap, err := Discover(ctx, pool, []string{a.Addr()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Nodes) != 3 {
		t.Fatalf("discovered %d nodes, want 3 (unreachable: %v)", len(snap.Nodes), snap.Unreachable)
	}
	var wantOpen topology.SlotSet
	wantOpen.Add(open2to1)
	wantOpen.Add(openTie)
	if got := OpenSlots(snap); !got.Equal(wantOpen) {
		t.Errorf("OpenSlots = %v, want %v", got, wantOpen)
	}

	interest := wantOpen
	interest.Add(uncovered)
	interest.Add(16000) // b's, no keys
	got, err := KeyHolders(ctx, pool, snap, interest)
	if err != nil {
		t.Fatal(err)
	}
	tie := []topology.NodeID{ida, idb}
	if idb < ida {
		tie = []topology.NodeID{idb, ida}
	}
	want := map[int][]topology.NodeID{
		open2to1:  {ida, idb}, // 2 keys on a, 1 on b
		openTie:   tie,        // 1 and 1
		uncovered: {ida},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("KeyHolders = %v, want %v (untouched slot %d not asked)", got, want, untouched)
	}

	if got, err := KeyHolders(ctx, pool, snap, topology.SlotSet{}); got != nil || err != nil {
		t.Errorf("KeyHolders of no slot = %v, %v; want nil, nil", got, err)
	}

	// A master that stopped answering since the snapshot fails the call.
	nodes[1].Kill()
	_, err = KeyHolders(ctx, pool, snap, interest)
	var e *Error
	if !errors.Is(err, ErrUnreachable) || !errors.As(err, &e) || e.Addr != b.Addr() {
		t.Fatalf("KeyHolders with b killed = %v, want ErrUnreachable naming %s", err, b.Addr())
	}
}

// waitUntil polls cond every 20 ms until it holds or ctx is done.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
