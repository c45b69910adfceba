package redisadmin

import (
	"testing"

	"github.com/redkube/redkube/pkg/topology"
)

// Captured from redis-server 7.0.15.
const replicaInfo = `# Replication
role:slave
master_host:127.0.0.1
master_port:7001
master_link_status:up
master_last_io_seconds_ago:1
master_sync_in_progress:0
slave_read_repl_offset:1234
slave_repl_offset:1200
slave_priority:100
slave_read_only:1
replica_announced:1
connected_slaves:0
master_failover_state:no-failover
master_replid:8f8d0309631a1a7af0905da40d19f1e51c05b297
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:1234
second_repl_offset:-1
repl_backlog_active:1
repl_backlog_size:1048576
repl_backlog_first_byte_offset:1
repl_backlog_histlen:1234
`

const syncingReplicaInfo = `# Replication
role:slave
master_host:127.0.0.1
master_port:7001
master_link_status:down
master_last_io_seconds_ago:-1
master_sync_in_progress:1
slave_read_repl_offset:0
slave_repl_offset:0
master_sync_total_bytes:-1
master_sync_read_bytes:0
master_sync_left_bytes:-1
master_sync_perc:-0.00
master_sync_last_io_seconds_ago:0
master_link_down_since_seconds:-1
slave_priority:100
`

const masterInfo = "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_repl_offset:98765\r\nsecond_repl_offset:-1\r\n"

func TestParseReplication(t *testing.T) {
	cases := []struct {
		name string
		text string
		want topology.Replication
	}{
		{"replica in sync reports its processed offset", replicaInfo, topology.Replication{Role: "slave", MasterLinkUp: true, Offset: 1200}},
		{"replica in first sync has link down", syncingReplicaInfo, topology.Replication{Role: "slave", MasterSyncInProgress: true}},
		{"master reports master_repl_offset", masterInfo, topology.Replication{Role: "master", Offset: 98765}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseReplication(c.text)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
	if _, err := ParseReplication("# Replication\nrole:slave\n"); err == nil {
		t.Fatal("replica info without link status parsed without error")
	}
}

func TestParseClusterInfo(t *testing.T) {
	text := "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16380\r\ncluster_slots_pfail:4\r\ncluster_slots_fail:0\r\ncluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:6\r\ncluster_my_epoch:2\r\ncluster_stats_messages_sent:1483\r\n"
	got, err := ParseClusterInfo(text)
	if err != nil {
		t.Fatal(err)
	}
	want := ClusterInfo{StateOK: true, SlotsAssigned: 16384, SlotsOK: 16380, SlotsPFail: 4, KnownNodes: 6, Size: 3, CurrentEpoch: 6, MyEpoch: 2}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := ParseClusterInfo("cluster_state:fail\r\n"); err == nil {
		t.Fatal("truncated cluster info parsed without error")
	}
}

func TestParseExpiredCountsKeysDroppedAtLoadAndSince(t *testing.T) {
	// Captured from redis-server 7.0.15 started on an AOF base RDB whose 10
	// volatile keys had expired: the AOF load keeps them, the active
	// expire cycle drops them right after.
	text := "# Persistence\r\nloading:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:20\r\naof_enabled:1\r\n\r\n# Stats\r\ntotal_connections_received:3\r\nexpired_keys:10\r\nevicted_keys:0\r\n"
	e, err := ParseExpired(text)
	if err != nil {
		t.Fatal(err)
	}
	if e.AtLoad != 0 || e.Since != 10 || e.Total() != 10 {
		t.Errorf("got %+v, want 0 at load and 10 since", e)
	}
	if _, err := ParseExpired("# Stats\r\nexpired_keys:1\r\n"); err == nil {
		t.Error("a reply without rdb_last_load_keys_expired parsed")
	}
}
