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
		{[]string{"backup", "fetch-shard", "--from", "file:///b/x"}, "exactly one of --redis-conf and --to"},
		{[]string{"backup", "fetch-shard", "--from", "file:///b/x", "--to", "/tmp/a", "--redis-conf", "/tmp/b"}, "exactly one of --redis-conf and --to"},
		{[]string{"backup", "fetch-shard", "--from", "file:///b/x", "--to", "/tmp/a", "--shard", "-1"}, "--shard -1"},
		{[]string{"backup", "fetch-shard", "--to", "/tmp/a"}, "--from is required"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			oneLineErr(t, rcctl(t, c.args...), ExitUsage, c.want)
		})
	}
}

func TestFetchShardCommandPlacesAVerifiedShardWhereAFreshNodeLoadsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	src := newCluster(t, 3, 0, fastSync)
	loadKeys(t, src[0].Addr, 500)
	dir := filepath.Join(t.TempDir(), "b")
	from := "file://" + dir
	mustRcctl(t, "backup", src[0].Addr, "--to", from, "--no-progress")
	m, err := os.ReadFile(filepath.Join(dir, backup.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := backup.DecodeManifest(strings.NewReader(string(m)))
	if err != nil {
		t.Fatal(err)
	}

	// --to: the shard's object, byte for byte.
	to := filepath.Join(t.TempDir(), "shard-1.rdb")
	var rep fetchShardReport
	r := mustRcctl(t, "backup", "fetch-shard", "--from", from, "--shard", "1", "--to", to, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.Placed || rep.Keys != manifest.Shards[1].Keys {
		t.Fatalf("fetch-shard --to report %+v (%v), want shard 1 placed with %d keys\n%s", rep, err, manifest.Shards[1].Keys, r.stdout)
	}
	want, _ := os.ReadFile(filepath.Join(dir, manifest.Shards[1].Object))
	if got, err := os.ReadFile(to); err != nil || string(got) != string(want) {
		t.Errorf("fetched %d bytes (%v), want the object's %d", len(got), err, len(want))
	}

	// --only-ordinal in a pod of another ordinal: nothing written; in
	// the pod of that ordinal: written.
	t.Setenv("POD_NAME", "cache-shard-1-2")
	skipped := filepath.Join(t.TempDir(), "skipped.rdb")
	mustRcctl(t, "backup", "fetch-shard", "--from", from, "--shard", "1", "--to", skipped, "--only-ordinal", "0", "--no-progress")
	if _, err := os.Stat(skipped); !os.IsNotExist(err) {
		t.Errorf("fetch-shard --only-ordinal 0 in pod cache-shard-1-2 wrote %s: %v", skipped, err)
	}
	t.Setenv("POD_NAME", "cache-shard-1-0")
	mustRcctl(t, "backup", "fetch-shard", "--from", from, "--shard", "1", "--to", skipped, "--only-ordinal", "0", "--no-progress")
	if _, err := os.Stat(skipped); err != nil {
		t.Errorf("fetch-shard --only-ordinal 0 in pod cache-shard-1-0 wrote nothing: %v", err)
	}

	// --redis-conf with appendonly yes: the AOF's base file and manifest.
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "redis.conf")
	if err := os.WriteFile(conf, []byte("dir "+data+"\ncluster-config-file "+data+"/nodes.conf\nappendonly yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRcctl(t, "backup", "fetch-shard", "--from", from, "--shard", "2", "--redis-conf", conf, "--no-progress")
	base, err := os.ReadFile(filepath.Join(data, "appendonlydir", "appendonly.aof.1.base.rdb"))
	if err != nil || int64(len(base)) != manifest.Shards[2].Size {
		t.Errorf("AOF base: %d bytes (%v), want %d", len(base), err, manifest.Shards[2].Size)
	}
	aofManifest, err := os.ReadFile(filepath.Join(data, "appendonlydir", "appendonly.aof.manifest"))
	if err != nil || string(aofManifest) != "file appendonly.aof.1.base.rdb seq 1 type b\n" {
		t.Errorf("AOF manifest %q (%v)", aofManifest, err)
	}

	// A node that has started (a nodes.conf) is left alone.
	if err := os.WriteFile(filepath.Join(data, "nodes.conf"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRcctl(t, "backup", "fetch-shard", "--from", from, "--shard", "0", "--redis-conf", conf, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Placed {
		t.Errorf("fetch-shard on a started node: %+v (%v), want nothing placed", rep, err)
	}
	if again, _ := os.ReadFile(filepath.Join(data, "appendonlydir", "appendonly.aof.1.base.rdb")); string(again) != string(base) {
		t.Error("fetch-shard changed a started node's data")
	}

	// A corrupted object is refused and nothing is left at --to.
	want[len(want)/2] ^= 0x55
	if err := os.WriteFile(filepath.Join(dir, manifest.Shards[1].Object), want, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.rdb")
	oneLineErr(t, rcctl(t, "backup", "fetch-shard", "--from", from, "--shard", "1", "--to", bad, "--no-progress"), ExitFailure, "sha256")
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a refused fetch left %s: %v", bad, err)
	}
}
