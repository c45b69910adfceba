package backup

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/pkg/topology"
)

func validManifest() *Manifest {
	t0 := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	shard := func(i int, lo, hi int) Shard {
		return Shard{
			MasterID: topology.NodeID(strings.Repeat(string(rune('a'+i)), 40)), SourceID: topology.NodeID(strings.Repeat(string(rune('d'+i)), 40)),
			SourceAddr: "10.0.0.1:6379", SourceRole: RoleReplica, Slots: topology.RangeSet(lo, hi), Keys: 10, RedisVersion: "7.0.15",
			Object: objectName(i, topology.NodeID(strings.Repeat(string(rune('a'+i)), 40))), Size: 100, SHA256: strings.Repeat("0f", 32),
			Started: t0, Finished: t0.Add(time.Second),
		}
	}
	return &Manifest{Format: FormatVersion, Cluster: "ns/name", Started: t0, Finished: t0.Add(2 * time.Second),
		Shards: []Shard{shard(0, 0, 5460), shard(1, 5461, 10922), shard(2, 10923, 16383)}}
}

func encode(t testing.TB, m *Manifest) []byte {
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestManifestRoundTripsThroughJSON(t *testing.T) {
	m := validManifest()
	got, err := DecodeManifest(bytes.NewReader(encode(t, m)))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !bytes.Equal(encode(t, got), encode(t, m)) {
		t.Fatalf("round trip changed the manifest:\n%s\nwant\n%s", encode(t, got), encode(t, m))
	}
	if got.TotalKeys() != 30 || got.TotalSize() != 300 {
		t.Errorf("totals %d keys %d bytes, want 30 and 300", got.TotalKeys(), got.TotalSize())
	}
	if !strings.Contains(string(encode(t, m)), `"slots": "0-5460"`) {
		t.Errorf("slots are not written as ranges:\n%s", encode(t, m))
	}
}

func TestDecodeManifestRefusesBadManifestsNamingTheCause(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(m *Manifest)
		raw    string
		want   string
		target error
	}{
		{name: "newer format", raw: `{"format": 2, "shards": "anything: a newer format may change every field"}`, want: "manifest format 2, this redkube reads up to 1", target: ErrNewerFormat},
		{name: "format zero", edit: func(m *Manifest) { m.Format = 0 }, want: "format 0"},
		{name: "no shards", edit: func(m *Manifest) { m.Shards = nil }, want: "no shards"},
		{name: "object escaping the backup", edit: func(m *Manifest) { m.Shards[1].Object = "../../etc/passwd" }, want: "leaves the backup"},
		{name: "absolute object", edit: func(m *Manifest) { m.Shards[1].Object = "/x.rdb" }, want: "not a clean relative path"},
		{name: "object named manifest", edit: func(m *Manifest) { m.Shards[1].Object = ManifestName }, want: "is the manifest's"},
		{name: "object twice", edit: func(m *Manifest) { m.Shards[1].Object = m.Shards[0].Object }, want: "named twice"},
		{name: "short digest", edit: func(m *Manifest) { m.Shards[0].SHA256 = "abc" }, want: "not 64 lower-case hex"},
		{name: "upper-case digest", edit: func(m *Manifest) { m.Shards[0].SHA256 = strings.Repeat("0F", 32) }, want: "not 64 lower-case hex"},
		{name: "negative size", edit: func(m *Manifest) { m.Shards[0].Size = -1 }, want: "negative size"},
		{name: "unknown role", edit: func(m *Manifest) { m.Shards[0].SourceRole = "primary" }, want: `source role "primary"`},
		{name: "overlapping slots", edit: func(m *Manifest) { m.Shards[1].Slots = topology.RangeSet(5000, 10922) }, want: "slots 5000-5460 are also another shard's"},
		{name: "bad slot range", raw: `{"format": 1, "shards": [{"slots": "10-5"}]}`, want: "invalid slot range"},
		{name: "unknown field", raw: `{"format": 1, "shard": []}`, want: `unknown field "shard"`},
		{name: "not JSON", raw: `format: 1`, want: "parse manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := []byte(c.raw)
			if c.edit != nil {
				m := validManifest()
				c.edit(m)
				raw = encode(t, m)
			}
			_, err := DecodeManifest(bytes.NewReader(raw))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("decode: %v, want an error containing %q", err, c.want)
			}
			if c.target != nil && !errors.Is(err, c.target) {
				t.Fatalf("decode: %v does not match %v", err, c.target)
			}
		})
	}
}

// FuzzDecodeManifest: whatever the input, decoding either fails or gives
// a manifest that validates, re-encodes and decodes to the same thing.
func FuzzDecodeManifest(f *testing.F) {
	f.Add(encode(f, validManifest()))
	f.Add([]byte(`{"format": 2}`))
	f.Add([]byte(`{"format": 1, "shards": [{"object": "a/../b", "slots": "0-1,5"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded manifest does not validate: %v", err)
		}
		again, err := DecodeManifest(bytes.NewReader(encode(t, m)))
		if err != nil {
			t.Fatalf("re-encoded manifest does not decode: %v", err)
		}
		if !bytes.Equal(encode(t, again), encode(t, m)) {
			t.Fatalf("second round trip changed the manifest")
		}
	})
}
