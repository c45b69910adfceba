package topology

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// IDs of the captured cluster in testdata/cluster-nodes.
const (
	idM1    NodeID = "98c8468654f5193409df80d4f50c75b60b37be35" // :31101
	idM2    NodeID = "2f5b408712abab9be837644c396e19801b5b6e3a" // :31102
	idM3    NodeID = "b0eac86730f224b0097617905d0e218bfd2a2a02" // :31103
	idR1    NodeID = "e3f7474717a6aa799704e8160d1028f41e6fa0db" // :31104
	idR3    NodeID = "11954c80c0ac88974bc4ba7d1f2411c3b21af660" // :31106
	idFresh NodeID = "5d03255098e2ad9a432adada4d0af68ab585b870" // :31107
)

func readCapture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cluster-nodes", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseClusterNodesCaptures(t *testing.T) {
	tests := []struct {
		file   string
		nodes  int
		myself NodeID
		check  func(t *testing.T, v *View)
	}{
		{
			file: "healthy-3x1-master.txt", nodes: 6, myself: idM1,
			check: func(t *testing.T, v *View) {
				if got := len(v.Masters()); got != 3 {
					t.Errorf("masters = %d, want 3", got)
				}
				if !v.Covered().IsFull() {
					t.Errorf("covered = %s, want every slot", v.Covered())
				}
				me := v.Myself()
				if me.Addr != "127.0.0.1:31101" || me.BusPort != 41101 || me.Port() != 31101 || me.Host() != "127.0.0.1" {
					t.Errorf("address = %q bus %d", me.Addr, me.BusPort)
				}
				if !me.Slots.Equal(RangeSet(0, 5460)) || me.ConfigEpoch != 1 || !me.Connected {
					t.Errorf("myself = %+v", me)
				}
				if got := v.ReplicasOf(idM1); len(got) != 1 || got[0].ID != idR1 {
					t.Errorf("ReplicasOf(M1) = %v", got)
				}
				if v.SlotOwners()[16383] != idM3 {
					t.Errorf("owner of 16383 = %s", v.SlotOwners()[16383])
				}
			},
		},
		{
			file: "healthy-3x1-replica.txt", nodes: 6, myself: idR1,
			check: func(t *testing.T, v *View) {
				me := v.Myself()
				if !me.IsReplica() || me.IsMaster() || me.MasterID != idM1 || !me.Slots.IsEmpty() {
					t.Errorf("myself = %+v", me)
				}
			},
		},
		{
			file: "migrating-source.txt", nodes: 6, myself: idM1,
			check: func(t *testing.T, v *View) {
				me := v.Myself()
				if !reflect.DeepEqual(me.Migrating, map[int]NodeID{100: idM2}) || me.Importing != nil {
					t.Errorf("migrating = %v importing = %v", me.Migrating, me.Importing)
				}
				if !me.Slots.Has(100) {
					t.Error("a migrating slot is still owned by the source")
				}
				if n := v.Node(idM2); n.Migrating != nil || n.Importing != nil {
					t.Error("open slots appear on a line other than myself")
				}
			},
		},
		{
			file: "importing-target.txt", nodes: 6, myself: idM2,
			check: func(t *testing.T, v *View) {
				if got := v.Myself().Importing; !reflect.DeepEqual(got, map[int]NodeID{100: idM1}) {
					t.Errorf("importing = %v", got)
				}
			},
		},
		{
			file: "half-done-source.txt", nodes: 6, myself: idM1,
			check: func(t *testing.T, v *View) {
				me := v.Myself()
				if me.Slots.Has(100) || me.Migrating[100] != idM2 {
					t.Errorf("source after target took slot 100: slots %s migrating %v", me.Slots, me.Migrating)
				}
				if owner := v.Node(idM2); !owner.Slots.Has(100) || owner.ConfigEpoch != 7 {
					t.Errorf("target = %+v", owner)
				}
			},
		},
		{
			file: "disagree-bystander.txt", nodes: 6, myself: idM3,
			check: func(t *testing.T, v *View) {
				if got := v.SlotOwners()[200]; got != idM2 {
					t.Errorf("bystander owner of 200 = %s, want %s", got, idM2)
				}
			},
		},
		{
			file: "disagree-owner.txt", nodes: 6, myself: idM1,
			check: func(t *testing.T, v *View) {
				if got := v.SlotOwners()[200]; got != idM1 {
					t.Errorf("owner's owner of 200 = %s, want %s", got, idM1)
				}
			},
		},
		{
			file: "fresh-node.txt", nodes: 1, myself: idFresh,
			check: func(t *testing.T, v *View) {
				me := v.Myself()
				if me.Flags != FlagMyself|FlagMaster || me.Addr != ":31107" || me.Host() != "" || me.Port() != 31107 || !me.Slots.IsEmpty() || me.ConfigEpoch != 0 {
					t.Errorf("fresh node = %+v", me)
				}
			},
		},
		{
			file: "handshake.txt", nodes: 7, myself: idM1,
			check: func(t *testing.T, v *View) {
				var hs []*Node
				for _, n := range v.Nodes {
					if n.Flags.Has(FlagHandshake) {
						hs = append(hs, n)
					}
				}
				if len(hs) != 1 || hs[0].Addr != "127.0.0.1:31199" || hs[0].Connected || hs[0].IsMaster() {
					t.Errorf("handshake nodes = %v", hs)
				}
			},
		},
		{
			file: "killed-pfail.txt", nodes: 6, myself: idM1,
			check: func(t *testing.T, v *View) {
				n := v.Node(idM3)
				if n.Flags != FlagMaster|FlagPFail || !n.Failing() || n.Connected || n.PingSent == 0 {
					t.Errorf("killed master = %+v", n)
				}
			},
		},
		{
			file: "killed-fail.txt", nodes: 6, myself: idM1,
			check: func(t *testing.T, v *View) {
				if n := v.Node(idM3); n.Flags != FlagMaster|FlagFail || !n.Slots.Equal(RangeSet(10923, 16383)) {
					t.Errorf("failed master = %+v", n)
				}
			},
		},
		{
			file: "after-failover.txt", nodes: 6, myself: idM1,
			check: func(t *testing.T, v *View) {
				if n := v.Node(idM3); !n.Slots.IsEmpty() || !n.Flags.Has(FlagFail) {
					t.Errorf("old master = %+v", n)
				}
				if n := v.Node(idR3); !n.IsMaster() || n.ConfigEpoch != 8 || !n.Slots.Equal(RangeSet(10923, 16383)) {
					t.Errorf("promoted replica = %+v", n)
				}
			},
		},
		{
			file: "joined-empty-master.txt", nodes: 7, myself: idFresh,
			check: func(t *testing.T, v *View) {
				if len(v.Masters()) != 4 || !v.Myself().Slots.IsEmpty() {
					t.Errorf("masters = %d", len(v.Masters()))
				}
			},
		},
		{
			file: "rejoined-as-replica.txt", nodes: 7, myself: idM3,
			check: func(t *testing.T, v *View) {
				if me := v.Myself(); !me.IsReplica() || me.MasterID != idR3 {
					t.Errorf("rejoined = %+v", me)
				}
			},
		},
		{
			file: "hostname.txt", nodes: 7, myself: idM2,
			check: func(t *testing.T, v *View) {
				if n := v.Node(idM1); n.Hostname != "redis-0.redis.default.svc" || n.Addr != "127.0.0.1:31101" || n.BusPort != 41101 {
					t.Errorf("hostname node = %+v", n)
				}
			},
		},
		{
			file: "nodes-conf.txt", nodes: 7, myself: idM1,
		},
		{
			file: "ipv6-hostname.txt", nodes: 3, myself: "07c37dfeb235213a872192d90877d0cd55635b91",
			check: func(t *testing.T, v *View) {
				me := v.Myself()
				if me.Addr != "[2001:db8::10]:6379" || me.Host() != "2001:db8::10" || me.Port() != 6379 || me.Hostname != "redis-0.redis.ns.svc.cluster.local" {
					t.Errorf("ipv6 node = %+v", me)
				}
				if n := v.Node("292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f"); n.Addr != "[::1]:6380" {
					t.Errorf("loopback ipv6 addr = %q", n.Addr)
				}
			},
		},
		{
			file: "noaddr.txt", nodes: 4, myself: idM1,
			check: func(t *testing.T, v *View) {
				n := v.Node(idM3)
				if n.Flags != FlagMaster|FlagFail|FlagNoAddr || n.Host() != "" || n.BusPort != 0 {
					t.Errorf("noaddr node = %+v", n)
				}
				if r := v.Node(idR1); !r.Flags.Has(FlagNoFailover) {
					t.Errorf("nofailover replica flags = %s", r.Flags)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			text := readCapture(t, tt.file)
			v, err := ParseClusterNodes(text)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Nodes) != tt.nodes {
				t.Errorf("nodes = %d, want %d", len(v.Nodes), tt.nodes)
			}
			if me := v.Myself(); me == nil || me.ID != tt.myself {
				t.Errorf("myself = %v, want %s", me, tt.myself)
			}
			if tt.check != nil {
				tt.check(t, v)
			}
			assertRendersBack(t, v)
		})
	}
}

// TestRenderMatchesCaptures checks that rendering reproduces the server's own
// bytes for captures whose slot lists are already in canonical form.
func TestRenderMatchesCaptures(t *testing.T) {
	for _, name := range []string{"healthy-3x1-master.txt", "migrating-source.txt", "killed-fail.txt", "hostname.txt", "handshake.txt", "ipv6-hostname.txt"} {
		text := readCapture(t, name)
		v, err := ParseClusterNodes(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.String(); got != text {
			t.Errorf("%s: rendered\n%s\nwant\n%s", name, got, text)
		}
	}
}

func assertRendersBack(t testing.TB, v *View) {
	t.Helper()
	text := v.String()
	again, err := ParseClusterNodes(text)
	if err != nil {
		t.Fatalf("rendered view does not parse: %v\n%s", err, text)
	}
	if len(v.Nodes) == 0 && len(again.Nodes) == 0 {
		return
	}
	if !reflect.DeepEqual(again, v) {
		t.Fatalf("render round trip differs:\nfirst  %+v\nsecond %+v\ntext %q", v, again, text)
	}
	if again.String() != text {
		t.Fatalf("render is not stable: %q then %q", text, again.String())
	}
}

func TestParseClusterNodesErrors(t *testing.T) {
	const id = "98c8468654f5193409df80d4f50c75b60b37be35"
	good := id + " 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460"
	tests := []struct {
		name   string
		text   string
		reason string
	}{
		{"too few fields", id + " 127.0.0.1:7000@17000 master - 0 0 1", "fewer than 8 fields"},
		{"short id", "abc" + good[40:], "invalid node id"},
		{"uppercase id", strings.ToUpper(id) + good[40:], "invalid node id"},
		{"no port", id + " 127.0.0.1@17000 master - 0 0 1 connected", "address without port"},
		{"port out of range", id + " 127.0.0.1:70000@17000 master - 0 0 1 connected", "invalid port"},
		{"bad bus port", id + " 127.0.0.1:7000@x master - 0 0 1 connected", "invalid bus port"},
		{"bad master id", id + " 127.0.0.1:7000@17000 slave 123 0 0 1 connected", "invalid master id"},
		{"bad ping", id + " 127.0.0.1:7000@17000 master - x 0 1 connected", "invalid ping-sent"},
		{"bad pong", id + " 127.0.0.1:7000@17000 master - 0 x 1 connected", "invalid pong-recv"},
		{"negative epoch", id + " 127.0.0.1:7000@17000 master - 0 0 -1 connected", "invalid config-epoch"},
		{"bad link", id + " 127.0.0.1:7000@17000 master - 0 0 1 up", "invalid link-state"},
		{"slot out of range", id + " 127.0.0.1:7000@17000 master - 0 0 1 connected 16384", `invalid slot "16384"`},
		{"inverted range", id + " 127.0.0.1:7000@17000 master - 0 0 1 connected 10-5", `invalid slot range "10-5"`},
		{"unterminated open slot", id + " 127.0.0.1:7000@17000 master - 0 0 1 connected [5->-" + id, "unterminated open-slot field"},
		{"bad migrating", id + " 127.0.0.1:7000@17000 master - 0 0 1 connected [x->-" + id + "]", "invalid migrating slot"},
		{"bad importing", id + " 127.0.0.1:7000@17000 master - 0 0 1 connected [5-<-abc]", "invalid importing slot"},
		{"bad open slot", id + " 127.0.0.1:7000@17000 master - 0 0 1 connected [5]", "invalid open-slot field"},
		{"duplicate id", good + "\n" + good, "duplicate node id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseClusterNodes(tt.text)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want *ParseError", err)
			}
			if pe.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", pe.Reason, tt.reason)
			}
			if !strings.Contains(pe.Error(), "line ") {
				t.Errorf("error %q does not name the line", pe.Error())
			}
		})
	}
}

func TestParseClusterNodesLineNumbers(t *testing.T) {
	text := readCapture(t, "healthy-3x1-master.txt") + "garbage\n"
	_, err := ParseClusterNodes(text)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 7 || pe.Text != "garbage" {
		t.Fatalf("error = %#v, want line 7", err)
	}
}

func TestParseClusterNodesIgnoresUnknownFlags(t *testing.T) {
	v, err := ParseClusterNodes("98c8468654f5193409df80d4f50c75b60b37be35 127.0.0.1:7000@17000 myself,master,nopfail - 0 0 1 connected")
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Nodes[0].Flags; got != FlagMyself|FlagMaster {
		t.Fatalf("flags = %s", got)
	}
}
