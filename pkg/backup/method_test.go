package backup

import (
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

// thirds are the slots of a 3-shard cluster made by an even split.
var thirds = []topology.SlotSet{topology.RangeSet(0, 5460), topology.RangeSet(5461, 10922), topology.RangeSet(10923, 16383)}

func TestChooseMethod(t *testing.T) {
	cases := []struct {
		name string
		in   LayoutInput
		want Method
		why  string
	}{
		{"takes the fast path for a new cluster with one master per backup shard",
			LayoutInput{Shards: thirds, Masters: 3, FreshCluster: true}, MethodSameLayout, "3 shards and the target 3 masters"},
		{"goes key by key into more masters than shards",
			LayoutInput{Shards: thirds, Masters: 4, FreshCluster: true}, MethodKeyByKey, "3 shards and the target 4 masters"},
		{"goes key by key into fewer masters than shards",
			LayoutInput{Shards: thirds, Masters: 2, FreshCluster: true}, MethodKeyByKey, "3 shards and the target 2 masters"},
		{"goes key by key into a cluster that already exists",
			LayoutInput{Shards: thirds, Masters: 3}, MethodKeyByKey, "already exists"},
		{"goes key by key when the backup's shards are unknown",
			LayoutInput{Masters: 3, FreshCluster: true}, MethodKeyByKey, "not known"},
		{"goes key by key when the backup left slots without an owner",
			LayoutInput{Shards: []topology.SlotSet{topology.RangeSet(0, 5460), topology.RangeSet(5461, 10922), topology.RangeSet(10923, 16000)}, Masters: 3, FreshCluster: true},
			MethodKeyByKey, "16001-16383 without an owner"},
		{"goes key by key when two shards share slots",
			LayoutInput{Shards: []topology.SlotSet{topology.RangeSet(0, 9000), topology.RangeSet(5461, 16383)}, Masters: 2, FreshCluster: true},
			MethodKeyByKey, "shares slots 5461-9000"},
		{"goes key by key when a shard owned no slot",
			LayoutInput{Shards: []topology.SlotSet{topology.AllSlots(), {}}, Masters: 2, FreshCluster: true}, MethodKeyByKey, "shard 1 owned no slot"},
		{"takes the fast path for a single shard owning every slot",
			LayoutInput{Shards: []topology.SlotSet{topology.AllSlots()}, Masters: 1, FreshCluster: true}, MethodSameLayout, "1 shards"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := ChooseMethod(tc.in)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("ChooseMethod = %s (%q), want %s with %q", got, why, tc.want, tc.why)
			}
		})
	}
}

func TestSlotsToAdd(t *testing.T) {
	shard := topology.RangeSet(0, 5460)
	t.Run("adds the shard's slots the node did not claim", func(t *testing.T) {
		claimed := topology.NewSlotSet(3, 100, 5460)
		got, err := SlotsToAdd(shard, claimed)
		if err != nil || got.Union(claimed) != shard || got.Overlaps(claimed) {
			t.Errorf("SlotsToAdd = %s, %v; want the shard minus %s", got.String(), err, claimed.String())
		}
	})
	t.Run("adds every slot when the node claimed none (an empty shard)", func(t *testing.T) {
		got, err := SlotsToAdd(shard, topology.SlotSet{})
		if err != nil || got != shard {
			t.Errorf("SlotsToAdd = %s, %v; want %s", got.String(), err, shard.String())
		}
	})
	t.Run("refuses a node that claimed a slot of another shard", func(t *testing.T) {
		_, err := SlotsToAdd(shard, topology.NewSlotSet(7, 9000))
		if err == nil || !strings.Contains(err.Error(), "9000") {
			t.Errorf("SlotsToAdd err = %v, want one naming slot 9000", err)
		}
	})
}

func TestReadPlacement(t *testing.T) {
	cases := []struct {
		name, conf string
		want       Placement
		rdb, nodes string
	}{
		{"uses Redis's defaults for what the file does not set", "port 6379\n",
			Placement{Dir: ".", DBFilename: "dump.rdb", AppendDirName: "appendonlydir", AppendFilename: "appendonly.aof", ClusterConfigFile: "nodes.conf"},
			"dump.rdb", "nodes.conf"},
		{"places the RDB as the AOF's base with appendonly on (the operator's redis.conf)",
			"cluster-config-file /data/nodes.conf\ndir /data\nappendonly yes\n",
			Placement{Dir: "/data", DBFilename: "dump.rdb", AppendOnly: true, AppendDirName: "appendonlydir", AppendFilename: "appendonly.aof", ClusterConfigFile: "/data/nodes.conf"},
			"/data/appendonlydir/appendonly.aof.1.base.rdb", "/data/nodes.conf"},
		{"lets the last occurrence win and strips quotes",
			"# comment\nappendonly yes\nappendonly no\ndbfilename \"x.rdb\"\ndir '/d'\nCLUSTER-CONFIG-FILE n.conf\n",
			Placement{Dir: "/d", DBFilename: "x.rdb", AppendDirName: "appendonlydir", AppendFilename: "appendonly.aof", ClusterConfigFile: "n.conf"},
			"/d/x.rdb", "/d/n.conf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadPlacement(strings.NewReader(tc.conf))
			if err != nil || got != tc.want || got.RDBPath() != tc.rdb || got.NodesConf() != tc.nodes {
				t.Errorf("ReadPlacement = %+v (%s, %s), %v; want %+v (%s, %s)", got, got.RDBPath(), got.NodesConf(), err, tc.want, tc.rdb, tc.nodes)
			}
		})
	}
	for _, bad := range []string{"appendonly maybe\n", "dbfilename a/b.rdb\n", "appendfilename \"\"\n"} {
		if _, err := ReadPlacement(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadPlacement(%q) accepted it", bad)
		}
	}
}
