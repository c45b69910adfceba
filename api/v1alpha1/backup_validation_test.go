package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// backupObject decodes a RedisClusterBackup manifest as a user would type it.
func backupObject(t *testing.T, name, spec string) *unstructured.Unstructured {
	t.Helper()
	doc := fmt.Sprintf("apiVersion: redis.redkube.io/v1alpha1\nkind: RedisClusterBackup\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n%s", name, namespace, indent(spec, "  "))
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v\n%s", err, doc)
	}
	return u
}

const goodS3Backup = "cluster: cache\ndestination:\n  url: s3://backups/cache/1\n  s3:\n    endpoint: https://s3.example.com\n    credentialsSecret: {name: s3-creds}"

func TestBackupRejectsBadInput(t *testing.T) {
	needAPIServer(t)
	cases := []struct {
		name, objName, spec string
		want                []string
	}{
		{name: "no cluster", spec: "destination:\n  url: s3://b-1/x\n  s3: {endpoint: https://s3.example.com}", want: []string{"spec.cluster: Required value"}},
		{name: "a URL of another scheme", spec: "cluster: cache\ndestination:\n  url: gs://bucket/x", want: []string{"spec.destination.url: Invalid value", "url must be s3://bucket/prefix or file:///backups/<dir>"}},
		{name: "an s3 URL without s3", spec: "cluster: cache\ndestination:\n  url: s3://bucket/x", want: []string{"spec.destination.s3: Invalid value", "an s3:// url needs s3"}},
		{name: "s3 settings on a file URL", spec: "cluster: cache\ndestination:\n  url: file:///backups/x\n  persistentVolumeClaim: {claimName: b}\n  s3: {endpoint: https://s3.example.com}", want: []string{"s3 is only for an s3:// url"}},
		{name: "a file URL without a claim", spec: "cluster: cache\ndestination:\n  url: file:///backups/x", want: []string{"spec.destination.persistentVolumeClaim: Invalid value", "a file:// url needs persistentVolumeClaim"}},
		{name: "a file URL outside the claim's mount", spec: "cluster: cache\ndestination:\n  url: file:///data/x\n  persistentVolumeClaim: {claimName: b}", want: []string{"the claim is mounted at /backups"}},
		{name: "a URL with a query", spec: "cluster: cache\ndestination:\n  url: s3://bucket/x?versionId=1\n  s3: {endpoint: https://s3.example.com}", want: []string{"url must have no query, fragment or '..'"}},
		{name: "an endpoint that is not a URL", spec: "cluster: cache\ndestination:\n  url: s3://bucket/x\n  s3: {endpoint: s3.example.com}", want: []string{"spec.destination.s3.endpoint: Invalid value", "must be an http:// or https:// URL"}},
		{name: "credentials without a Secret name", spec: "cluster: cache\ndestination:\n  url: s3://bucket/x\n  s3:\n    endpoint: https://s3.example.com\n    credentialsSecret: {accessKeyIDKey: id}", want: []string{"spec.destination.s3.credentialsSecret.name: Required value"}},
		{name: "a name too long for its Job", objName: strings.Repeat("b", 57), spec: goodS3Backup, want: []string{"metadata.name must be at most 56 characters"}},
	}
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := c.objName
			if name == "" {
				name = fmt.Sprintf("bad-backup-%d", i)
			}
			u := backupObject(t, name, c.spec)
			err := k8sClient.Create(ctx, u)
			if err == nil {
				_ = k8sClient.Delete(ctx, u)
				t.Fatalf("API server accepted %s:\n%s", c.name, c.spec)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error is not Invalid: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestBackupAcceptsGoodInputAndKeepsSpec(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	for i, spec := range []string{
		goodS3Backup,
		"cluster: cache\ndestination:\n  url: file:///backups/cache-1\n  persistentVolumeClaim: {claimName: backups}",
	} {
		u := backupObject(t, fmt.Sprintf("good-backup-%d", i), spec)
		if err := k8sClient.Create(ctx, u); err != nil {
			t.Fatalf("API server refused a good backup:\n%s\n%v", spec, err)
		}
		b := &redisv1alpha1.RedisClusterBackup{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), b); err != nil {
			t.Fatal(err)
		}
		if s := b.Spec.Destination.S3; s != nil && (s.CredentialsSecret.AccessKeyIDKey != redisv1alpha1.DefaultAccessKeyIDKey || s.CredentialsSecret.SecretAccessKeyKey != redisv1alpha1.DefaultSecretAccessKeyKey) {
			t.Errorf("credential keys not defaulted: %+v", s.CredentialsSecret)
		}
		b.Spec.Cluster = "other"
		err := k8sClient.Update(ctx, b)
		if err == nil || !strings.Contains(err.Error(), "spec cannot change") {
			t.Errorf("a change of spec: got %v, want a refusal saying spec cannot change", err)
		}
		if err := k8sClient.Delete(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestoreIsOnlySetAtCreation(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	both := object(t, "restore-both", "restore:\n  fromBackup: b\n  location: {url: \"s3://b-1/x\", s3: {endpoint: \"https://s3.example.com\"}}")
	if err := k8sClient.Create(ctx, both); err == nil || !strings.Contains(err.Error(), "exactly one of fromBackup and location") {
		t.Errorf("fromBackup and location together: %v", err)
	}
	u := object(t, "restore-later", "masters: 3")
	if err := k8sClient.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k8sClient.Delete(ctx, u) }()
	rc := &redisv1alpha1.RedisCluster{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), rc); err != nil {
		t.Fatal(err)
	}
	rc.Spec.Restore = &redisv1alpha1.RestoreSpec{FromBackup: "b"}
	if err := k8sClient.Update(ctx, rc); err == nil || !strings.Contains(err.Error(), "spec.restore can only be set when the cluster is created") {
		t.Errorf("adding spec.restore to a running cluster: %v", err)
	}
}
