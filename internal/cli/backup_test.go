package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redkube/redkube/pkg/backup"
	"github.com/redkube/redkube/test/redisenv"
	"github.com/redkube/redkube/test/s3env"
)

// fastSync skips redis's 5 s wait for more replicas before a diskless
// transfer (a backup fetch is one).
var fastSync = redisenv.WithConfig("repl-diskless-sync-delay", "0")

// waitBackupFromReplicas waits until a dry run would fetch every shard
// from a replica.
func waitBackupFromReplicas(t *testing.T, seed, to string) {
	t.Helper()
	waitFor(t, "every shard to have an in-sync replica", 30e9, func() bool {
		r := rcctl(t, "backup", seed, "--to", to, "--dry-run", "--json")
		var plan backupPlanJSON
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &plan) != nil || len(plan.Sources) != 3 {
			return false
		}
		for _, s := range plan.Sources {
			if s.Role != string(backup.RoleReplica) {
				return false
			}
		}
		return true
	})
}

func TestBackupAndRestoreCommandsThroughAFileURL(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const n = 5000
	src := newCluster(t, 6, 1, fastSync)
	loadKeys(t, src[0].Addr, n)
	to := "file://" + filepath.Join(t.TempDir(), "backups", "one")
	waitBackupFromReplicas(t, src[0].Addr, to)

	r := mustRcctl(t, "backup", src[0].Addr, "--to", to, "--json", "--cluster-name", "test/src")
	var rep backupReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("backup --json output is not JSON: %v\n%s", err, r.stdout)
	}
	if rep.Location != to || rep.Manifest.Cluster != "test/src" || len(rep.Manifest.Shards) != 3 || rep.Manifest.TotalKeys() != n {
		t.Fatalf("backup report %+v, want 3 shards and %d keys at %s", rep, n, to)
	}
	for _, sh := range rep.Manifest.Shards {
		if sh.SourceRole != backup.RoleReplica {
			t.Errorf("shard %s came from the %s", sh.Object, sh.SourceRole)
		}
	}

	dst := newCluster(t, 3, 0)
	r = mustRcctl(t, "restore", dst[0].Addr, "--from", to, "--json")
	var rr restoreReport
	if err := json.Unmarshal([]byte(r.stdout), &rr); err != nil {
		t.Fatalf("restore --json output is not JSON: %v\n%s", err, r.stdout)
	}
	if rr.KeysRestored != n || rr.Shards != 3 {
		t.Fatalf("restore report %+v, want %d keys from 3 shards", rr, n)
	}
	verifyKeys(t, dst[0].Addr, n)

	again := rcctl(t, "restore", dst[0].Addr, "--from", to, "--no-progress")
	oneLineErr(t, again, ExitFailure, "needs force")
	mustRcctl(t, "restore", dst[0].Addr, "--from", to, "--force", "--no-progress")
	verifyKeys(t, dst[0].Addr, n)
}

func TestRestoreCommandRefusesACorruptObjectAndANewerManifestChangingNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	src := newCluster(t, 3, 0, fastSync)
	loadKeys(t, src[0].Addr, 500)
	dir := filepath.Join(t.TempDir(), "b")
	mustRcctl(t, "backup", src[0].Addr, "--to", "file://"+dir, "--no-progress")
	dst := newCluster(t, 3, 0)
	before := worldState(t, addrs(dst))

	manifest, err := os.ReadFile(filepath.Join(dir, backup.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	newer := strings.Replace(string(manifest), `"format": 1`, `"format": 2`, 1)
	if err := os.WriteFile(filepath.Join(dir, backup.ManifestName), []byte(newer), 0o600); err != nil {
		t.Fatal(err)
	}
	oneLineErr(t, rcctl(t, "restore", dst[0].Addr, "--from", "file://"+dir, "--no-progress"), ExitFailure, "manifest format 2, this redkube reads up to 1")
	if err := os.WriteFile(filepath.Join(dir, backup.ManifestName), manifest, 0o600); err != nil {
		t.Fatal(err)
	}

	objects, _ := filepath.Glob(filepath.Join(dir, "shard-*.rdb"))
	if len(objects) != 3 {
		t.Fatalf("backup wrote %v", objects)
	}
	data, err := os.ReadFile(objects[2])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x55
	if err := os.WriteFile(objects[2], data, 0o600); err != nil {
		t.Fatal(err)
	}
	oneLineErr(t, rcctl(t, "restore", dst[0].Addr, "--from", "file://"+dir, "--no-progress"), ExitFailure, filepath.Base(objects[2])+": sha256")
	assertUnchanged(t, before, worldState(t, addrs(dst)))
}

func TestBackupAndRestoreCommandsThroughS3AndItsErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := s3env.Start(t)
	srv.MakeBucket(t, "backups")
	t.Setenv("AWS_ACCESS_KEY_ID", s3env.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3env.SecretKey)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	const n = 3000
	src := newCluster(t, 3, 0, fastSync)
	loadKeys(t, src[0].Addr, n)

	r := mustRcctl(t, "backup", src[0].Addr, "--to", "s3://backups/prod/one", "--s3-path-style")
	if !strings.Contains(r.stdout, "backup complete: s3://backups/prod/one, 3 shards, 3000 keys") {
		t.Errorf("backup output:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "was backed up from its master") {
		t.Errorf("backup from masters does not say so:\n%s", r.stderr)
	}
	dst := newCluster(t, 4, 0)
	mustRcctl(t, "restore", dst[0].Addr, "--from", "s3://backups/prod/one", "--s3-path-style")
	verifyKeys(t, dst[0].Addr, n)

	t.Run("wrong secret", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
		oneLineErr(t, rcctl(t, "backup", src[0].Addr, "--to", "s3://backups/prod/two", "--s3-path-style", "--no-progress"), ExitFailure, "credentials refused")
	})
	t.Run("missing bucket", func(t *testing.T) {
		oneLineErr(t, rcctl(t, "backup", src[0].Addr, "--to", "s3://nothing-here/x", "--s3-path-style", "--no-progress"), ExitFailure, `bucket "nothing-here" does not exist`)
	})
	t.Run("unreachable endpoint", func(t *testing.T) {
		dead := redisenv.SilentListener(t)
		oneLineErr(t, rcctl(t, "restore", dst[0].Addr, "--from", "s3://backups/prod/one", "--s3-endpoint", "http://"+dead, "--timeout", "1s", "--force", "--no-progress"), ExitFailure, "endpoint unreachable")
	})
	if objs := srv.Objects(t, "backups", "prod/two"); len(objs) != 0 {
		t.Fatalf("a refused backup wrote %v", objs)
	}
}

func TestBackupAndRestoreUsageErrorsNameTheFlag(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	addr := "127.0.0.1:1" // never contacted: every case is a usage error
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"backup", addr}, "--to is required"},
		{[]string{"backup", addr, "--to", "/backups/x"}, `--to: backup location "/backups/x": scheme ""`},
		{[]string{"backup", addr, "--to", "s3://Bad_Bucket/x", "--s3-endpoint", "http://127.0.0.1:1"}, "lower-case letters"},
		{[]string{"backup", addr, "--to", "file:///b/x", "--s3-endpoint", "http://127.0.0.1:1"}, "--s3-endpoint: only for an s3:// location"},
		{[]string{"backup", addr, "--to", "s3://bucket/x"}, "needs --s3-endpoint"},
		{[]string{"backup", addr, "--to", "s3://bucket/x", "--s3-endpoint", "ftp://host"}, "want http(s)://host[:port]"},
		{[]string{"backup", addr, "--to", "s3://bucket/x", "--s3-endpoint", "http://h:1", "--s3-sse", "rot13"}, `server-side encryption "rot13"`},
		{[]string{"backup", addr, "--to", "s3://bucket/x", "--s3-endpoint", "http://h:1", "--s3-part-size", "1"}, "--s3-part-size 1"},
		{[]string{"backup", addr, "--to", "s3://bucket/x", "--s3-endpoint", "http://h:1", "--s3-access-key-env", "HOME"}, "must be set together"},
		{[]string{"backup", addr, "--to", "file:///b/x", "--parallel", "-1"}, "--parallel -1"},
		{[]string{"backup", addr, "--to", "file:///b/x", "--max-lag", "-5"}, "--max-lag -5"},
		{[]string{"backup", "nohost", "--to", "file:///b/x"}, "nohost"},
		{[]string{"restore", addr}, "--from is required"},
		{[]string{"restore", addr, "--from", "file:///b/x", "--parallel", "0"}, "--parallel 0"},
		{[]string{"restore", addr, "--from", "file:///b/x", "--redis-server", "/no/such/redis-server"}, "--redis-server /no/such/redis-server"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			oneLineErr(t, rcctl(t, c.args...), ExitUsage, c.want)
		})
	}
}
