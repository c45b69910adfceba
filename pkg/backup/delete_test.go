package backup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/topology"
)

// putBackup writes a complete two-shard backup (objects, then the
// manifest) into store.
func putBackup(t *testing.T, store Store) {
	t.Helper()
	ctx := testCtx(t)
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	m := &Manifest{Format: FormatVersion, Started: t0, Finished: t0.Add(time.Second)}
	for i, slots := range []topology.SlotSet{topology.RangeSet(0, 8191), topology.RangeSet(8192, 16383)} {
		obj := objectName(i, topology.NodeID(strings.Repeat(string(rune('a'+i)), 40)))
		if err := store.Put(ctx, obj, strings.NewReader("rdb")); err != nil {
			t.Fatal(err)
		}
		m.Shards = append(m.Shards, Shard{MasterID: topology.NodeID(strings.Repeat(string(rune('a'+i)), 40)), SourceRole: RoleMaster,
			Slots: slots, Object: obj, Size: 3, SHA256: strings.Repeat("0", 64), Started: t0, Finished: t0})
	}
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, ManifestName, &b); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteRemovesTheManifestAndEveryObject(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	store := fileStore(t, dir)
	putBackup(t, store)
	m, err := Delete(testCtx(t), store)
	if err != nil {
		t.Fatal(err)
	}
	if m == nil || len(m.Shards) != 2 {
		t.Fatalf("Delete returned manifest %+v", m)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	if _, err := ReadManifest(testCtx(t), store); !errors.Is(err, ErrNotFound) {
		t.Errorf("manifest after Delete: %v, want ErrNotFound", err)
	}
}

func TestDeleteOfALocationWithoutABackupDoesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "empty")
	store := fileStore(t, dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Delete(testCtx(t), store)
	if err != nil || m != nil {
		t.Fatalf("Delete = %v, %v; want nothing deleted and no error", m, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other")); err != nil {
		t.Errorf("Delete touched a file no manifest names: %v", err)
	}
}
