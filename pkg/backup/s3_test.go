package backup

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/test/s3env"
)

func s3Store(t *testing.T, srv *s3env.Server, url, access, secret string) *S3Store {
	t.Helper()
	loc, err := ParseLocation(url)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewS3Store(loc, S3Options{Endpoint: srv.Endpoint, AccessKey: access, SecretKey: secret, PathStyle: true, MaxRetries: 1, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBackupToS3FromMastersRestoresIntoFourShards(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := s3env.Start(t)
	srv.MakeBucket(t, "backups")
	src := newCluster(t, 3, 0)
	loadMixed(t, src.client(t), 6000)
	want := dumpData(t, src)
	store := s3Store(t, srv, "s3://backups/nightly/one", s3env.AccessKey, s3env.SecretKey)
	m, err := Backup(testCtx(t), src.pool, src.snapshot(t), store, BackupOptions{})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	objects := srv.Objects(t, "backups", "nightly/one/")
	if len(objects) != 4 || !contains(objects, "nightly/one/"+ManifestName) {
		t.Fatalf("bucket holds %v, want 3 RDBs and the manifest under nightly/one/", objects)
	}
	for _, sh := range m.Shards {
		if sh.SourceRole != RoleMaster || sh.Note == "" {
			t.Errorf("shard %s: %s, note %q: want the master, and why", sh.Object, sh.SourceRole, sh.Note)
		}
	}
	dst := newCluster(t, 4, 0)
	if _, err := Restore(testCtx(t), dst.pool, dst.snapshot(t), store, RestoreOptions{}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	compareData(t, want, dumpData(t, dst))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestS3WrongCredentialsMissingBucketAndDeadEndpointFailByNameAndWriteNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := s3env.Start(t)
	srv.MakeBucket(t, "backups")
	src := newCluster(t, 3, 0)
	loadMixed(t, src.client(t), 300)
	snap := src.snapshot(t)
	dead := &s3env.Server{Endpoint: "http://" + closedPort(t)}
	cases := []struct {
		name   string
		store  *S3Store
		want   error
		phrase string
	}{
		{"wrong secret", s3Store(t, srv, "s3://backups/x", s3env.AccessKey, "not-the-secret"), ErrCredentials, "SignatureDoesNotMatch"},
		{"unknown access key", s3Store(t, srv, "s3://backups/x", "nobody", "whatever"), ErrCredentials, "InvalidAccessKeyId"},
		{"missing bucket", s3Store(t, srv, "s3://no-such-bucket/x", s3env.AccessKey, s3env.SecretKey), ErrNoBucket, `"no-such-bucket" does not exist`},
		{"dead endpoint", s3Store(t, dead, "s3://backups/x", s3env.AccessKey, s3env.SecretKey), ErrEndpoint, "connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Backup(testCtx(t), src.pool, snap, c.store, BackupOptions{})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.phrase) {
				t.Fatalf("backup: %v, want %v naming %q", err, c.want, c.phrase)
			}
			_, err = Restore(testCtx(t), src.pool, snap, c.store, RestoreOptions{})
			if !errors.Is(err, c.want) {
				t.Fatalf("restore: %v, want %v", err, c.want)
			}
		})
	}
	if objs := srv.Objects(t, "backups", ""); len(objs) != 0 {
		t.Fatalf("failed backups left objects: %v", objs)
	}
}

func TestBackupThatLosesAShardMidwayDeletesItsObjectsAndWritesNoManifest(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := s3env.Start(t)
	srv.MakeBucket(t, "backups")
	src := newCluster(t, 3, 0)
	loadMixed(t, src.client(t), 3000)
	snap := src.snapshot(t)
	victim := src.nodes[len(src.nodes)-1]
	victim.Kill() // after the observation: the backup finds out while fetching
	store := s3Store(t, srv, "s3://backups/partial", s3env.AccessKey, s3env.SecretKey)
	_, err := Backup(testCtx(t), src.pool, snap, store, BackupOptions{})
	if err == nil || !strings.Contains(err.Error(), victim.Addr) {
		t.Fatalf("backup with a dead shard: %v, want an error naming %s", err, victim.Addr)
	}
	if objs := srv.Objects(t, "backups", ""); len(objs) != 0 {
		t.Fatalf("the failed backup left objects: %v", objs)
	}
	if _, err := ReadManifest(context.Background(), store); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read manifest of the failed backup: %v, want ErrNotFound", err)
	}
}
