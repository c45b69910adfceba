package controller

import (
	"strings"
	"testing"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// counted is a shard of the backup with keys and what its master held.
func counted(keys, found, expired int64) redisv1alpha1.RestoreShardStatus {
	return redisv1alpha1.RestoreShardStatus{Slots: "0-16383", Keys: keys, Found: &found, Expired: &expired}
}

func TestRestoreKeysVerdict(t *testing.T) {
	cases := []struct {
		name      string
		shards    []redisv1alpha1.RestoreShardStatus
		known, ok bool
		msg       string
	}{
		{"waits until every master was counted", []redisv1alpha1.RestoreShardStatus{counted(10, 10, 0), {Slots: "1", Keys: 3}}, false, false, ""},
		{"succeeds when every master holds its shard's keys", []redisv1alpha1.RestoreShardStatus{counted(10, 10, 0), counted(7, 7, 2)}, true, true, "restored 17 keys of 2 shards"},
		{"allows fewer keys by those that expired", []redisv1alpha1.RestoreShardStatus{counted(10, 8, 2), counted(7, 7, 0)}, true, true, "restored 15 keys of 2 shards (2 more expired since the backup)"},
		{"fails when keys are missing beyond those that expired", []redisv1alpha1.RestoreShardStatus{counted(10, 10, 0), counted(7, 4, 1)}, true, false, "shard 1's master holds 4 keys of the backup's 7; only 1 expired, so 2 are missing"},
		{"fails when a master holds more keys than its shard", []redisv1alpha1.RestoreShardStatus{counted(10, 11, 0)}, true, false, "more than the backup's 10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			known, ok, msg := restoreKeysVerdict(c.shards)
			if known != c.known || ok != c.ok || !strings.Contains(msg, c.msg) {
				t.Errorf("got %v %v %q, want %v %v with %q", known, ok, msg, c.known, c.ok, c.msg)
			}
		})
	}
}

func TestRecordRestoreKeysKeepsTheBackupsCounts(t *testing.T) {
	next := redisv1alpha1.RedisClusterStatus{Restore: &redisv1alpha1.RestoreStatus{Phase: redisv1alpha1.RestorePending,
		Shards: []redisv1alpha1.RestoreShardStatus{{Slots: "0-8191", Keys: 5}, {Slots: "8192-16383", Keys: 6}}}}
	old := next.DeepCopy()
	recordRestoreKeys(&next, []shardKeys{{found: 5, expired: 0}, {found: 4, expired: 2}})
	got := next.Restore.Shards
	if got[1].Keys != 6 || *got[1].Found != 4 || *got[1].Expired != 2 || *got[0].Found != 5 {
		t.Errorf("recorded %+v", got)
	}
	if old.Restore.Shards[0].Found != nil {
		t.Error("the previous status was changed in place")
	}
	recordRestoreKeys(&next, []shardKeys{{found: 1}})
	if *next.Restore.Shards[0].Found != 5 {
		t.Error("counts of another number of shards were recorded")
	}
}
