package backup

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

// TestGroupByOwnerPutsEveryKeyOnceWithItsSlotOwner is a property test:
// for random keys and random slot owners, every key index lands in
// exactly one group, the group of its slot's owner, in input order.
func TestGroupByOwnerPutsEveryKeyOnceWithItsSlotOwner(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for round := 0; round < 200; round++ {
		owners := 1 + r.Intn(7)
		var owner [topology.SlotCount]string
		for s := range owner {
			owner[s] = fmt.Sprintf("10.0.0.%d:6379", r.Intn(owners))
		}
		keys := make([]string, r.Intn(300))
		for i := range keys {
			keys[i] = fmt.Sprintf("k%d", r.Int())
			if r.Intn(4) == 0 {
				keys[i] = fmt.Sprintf("{t%d}:%d", r.Intn(5), i)
			}
		}
		groups := groupByOwner(keys, func(s int) string { return owner[s] })
		seen := make([]int, len(keys))
		for addr, idx := range groups {
			for j, i := range idx {
				seen[i]++
				if owner[topology.KeySlot(keys[i])] != addr {
					t.Fatalf("key %q is grouped with %s, its slot belongs to %s", keys[i], addr, owner[topology.KeySlot(keys[i])])
				}
				if j > 0 && idx[j-1] >= i {
					t.Fatalf("group %s is not in input order: %v", addr, idx)
				}
			}
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("key %q is in %d groups", keys[i], n)
			}
		}
	}
}

func TestNextChunkKeepsBatchesNearTheByteBudget(t *testing.T) {
	cases := []struct {
		name     string
		n        int
		size     int64
		want     int
		batch    int
		maxBytes int64
	}{
		{"small values: the key limit", 500, 500 * 100, 500, 500, 8 << 20},
		{"100 KB values: about 80 keys", 500, 500 * 100 << 10, 81, 500, 8 << 20},
		{"values above the budget: one key", 10, 10 * 20 << 20, 1, 500, 8 << 20},
		{"nothing read: the key limit", 0, 0, 500, 500, 8 << 20},
	}
	for _, c := range cases {
		if got := nextChunk(c.batch, c.maxBytes, c.n, c.size); got != c.want {
			t.Errorf("%s: nextChunk = %d, want %d", c.name, got, c.want)
		}
	}
}
