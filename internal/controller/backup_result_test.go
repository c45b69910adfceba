package controller

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/backup"
	"github.com/redkube/redkube/pkg/topology"
)

// twoShardManifest is a complete manifest of two shards, the second backed
// up from its master.
func twoShardManifest() *backup.Manifest {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	sha := strings.Repeat("ab", 32)
	return &backup.Manifest{
		Format: backup.FormatVersion, Cluster: "ns/cache", Started: t0, Finished: t0.Add(3200 * time.Millisecond),
		Shards: []backup.Shard{
			{MasterID: "m1", SourceID: "r1", SourceAddr: "10.0.0.2:6379", SourceRole: backup.RoleReplica, Slots: topology.RangeSet(0, 8191),
				Keys: 100, RedisVersion: "7.0.15", Object: "shard-0.rdb", Size: 1000, SHA256: sha, Started: t0, Finished: t0.Add(time.Second)},
			{MasterID: "m2", SourceID: "m2", SourceAddr: "10.0.0.3:6379", SourceRole: backup.RoleMaster, Note: "no replica", Slots: topology.RangeSet(8192, 16383),
				Keys: 50, RedisVersion: "7.0.15", Object: "shard-1.rdb", Size: 500, SHA256: sha, Started: t0, Finished: t0.Add(3 * time.Second)},
		},
	}
}

// rcctlOutput is what the backup pod logs: stderr's notes, then the
// indented JSON report rcctl backup --json prints.
func rcctlOutput(t *testing.T, m *backup.Manifest, location string) string {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"location": location, "manifest": m, "seconds": 3.3}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return "note: shard m2 (slots 8192-16383) was backed up from its master 10.0.0.3:6379: no replica\n" + string(b) + "\n"
}

func TestParseBackupLog(t *testing.T) {
	good := rcctlOutput(t, twoShardManifest(), "s3://b/x")
	newer := twoShardManifest()
	newer.Format = backup.FormatVersion + 1
	badDigest := twoShardManifest()
	badDigest.Shards[1].SHA256 = "nothex"
	overlapping := twoShardManifest()
	overlapping.Shards[1].Slots = topology.RangeSet(8000, 16383)
	cases := []struct {
		name    string
		log     string
		wantErr string
		is      error
	}{
		{name: "reads the report after stderr's notes", log: good},
		{name: "refuses a log without a report (rcctl failed before printing one)", log: "error: connect 10.0.0.1:6379: connection refused\n", is: errNoBackupResult},
		{name: "refuses a report cut short", log: good[:len(good)/2], wantErr: "parse the result"},
		{name: "refuses a report without a manifest", log: "{\n  \"location\": \"s3://b/x\"\n}\n", is: errNoBackupResult},
		{name: "refuses a manifest of a newer format", log: rcctlOutput(t, newer, "s3://b/x"), is: backup.ErrNewerFormat},
		{name: "refuses a manifest with a malformed digest", log: rcctlOutput(t, badDigest, "s3://b/x"), wantErr: "sha256"},
		{name: "refuses shards whose slots overlap", log: rcctlOutput(t, overlapping, "s3://b/x"), wantErr: "also another shard's"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := parseBackupLog([]byte(c.log))
			if c.wantErr == "" && c.is == nil {
				if err != nil {
					t.Fatal(err)
				}
				if r.Location != "s3://b/x" || len(r.Manifest.Shards) != 2 {
					t.Errorf("result = %+v", r)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %q", c.log)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v does not match %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q lacks %q", err, c.wantErr)
			}
		})
	}
}

func TestSucceededStatusHoldsEveryShard(t *testing.T) {
	var st redisv1alpha1.RedisClusterBackupStatus
	succeededStatus(&st, backupResult{Location: "s3://b/x", Manifest: twoShardManifest()})
	if st.Location != "s3://b/x" || st.Keys != 150 || st.Size != 1500 || st.Duration != "3.2s" {
		t.Errorf("totals: %+v", st)
	}
	want := []redisv1alpha1.BackupShardStatus{
		{MasterID: "m1", SourceNode: "10.0.0.2:6379", Role: "replica", Slots: "0-8191", Keys: 100, Object: "shard-0.rdb", Size: 1000, SHA256: strings.Repeat("ab", 32)},
		{MasterID: "m2", SourceNode: "10.0.0.3:6379", Role: "master", Slots: "8192-16383", Keys: 50, Object: "shard-1.rdb", Size: 500, SHA256: strings.Repeat("ab", 32)},
	}
	if len(st.Shards) != len(want) {
		t.Fatalf("shards = %+v", st.Shards)
	}
	for i := range want {
		if st.Shards[i] != want[i] {
			t.Errorf("shard %d = %+v, want %+v", i, st.Shards[i], want[i])
		}
	}
}

func TestFailureCauseIsRcctlsLastLine(t *testing.T) {
	cases := []struct{ name, msg, want string }{
		{"the error after progress lines", "note: x\nerror: bucket \"nope\" does not exist\n\n", "error: bucket \"nope\" does not exist"},
		{"the fallback without a message", "  \n", "Job b-backup failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := failureCause(c.msg, "Job b-backup failed"); got != c.want {
				t.Errorf("failureCause = %q, want %q", got, c.want)
			}
		})
	}
}

func TestBackupSuccessMetricNeverGoesBack(t *testing.T) {
	at := func(sec int64) *redisv1alpha1.RedisClusterBackup {
		b := &redisv1alpha1.RedisClusterBackup{}
		b.Namespace, b.Spec.Cluster = "metric-ns", "metric-cluster"
		ts := metav1Unix(sec)
		b.Status.CompletionTime = &ts
		return b
	}
	recordBackupSuccess(at(2000))
	recordBackupSuccess(at(1000))
	if got := gaugeValue(backupLastSuccess.WithLabelValues("metric-ns", "metric-cluster")); got != 2000 {
		t.Errorf("last success = %v, want 2000 (an older backup seen later must not lower it)", got)
	}
}

func metav1Unix(sec int64) metav1.Time { return metav1.NewTime(time.Unix(sec, 0)) }
