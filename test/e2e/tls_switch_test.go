package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/test/writeload"
)

// testTLSSwitch turns TLS on for a running plain-text cluster under a
// writer whose client speaks whatever each node serves (as an application
// moving to TLS would, or one reconnecting through the switch): the pods
// roll to mount the files, every node is switched live, the pods roll to
// the TLS template; no acknowledged write is lost, the keys written
// before are all there, and at the end only TLS is served, with the
// exporter reporting over it.
func testTLSSwitch(t *testing.T, e *opEnv) {
	const name = "tlson"
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: 3, ReplicasPerMaster: 1,
			Config:     map[string]redisv1alpha1.ConfigValue{"cluster-node-timeout": "2000"},
			Storage:    redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
			Monitoring: &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}},
		},
	}
	applied := e.create(t.Context(), t, rc)
	e.waitReady(t, name, applied, 3*time.Minute)
	addrs := e.addrs(t, name)
	before := redis.NewClusterClient(writeload.ClientOptions(addrs, nil))
	const keys = 2000
	for k := range keys {
		if err := before.Set(t.Context(), fmt.Sprintf("before:%d", k), k, 0).Err(); err != nil {
			t.Fatalf("SET before:%d: %v", k, err)
		}
	}
	_ = before.Close()

	asked := time.Now()
	mergePatchCluster(t, e, name, `{"spec":{"tls":{"enabled":true}}}`)
	// The CA clients need is published before any node serves TLS.
	var caPEM []byte
	opWait(t, time.Minute, "the CA Secret of the cluster being switched", func(ctx context.Context) error {
		got, err := e.get(ctx, name)
		if err != nil {
			return err
		}
		if got.Status.TLS == nil || got.Status.TLS.CASecretName == "" {
			return fmt.Errorf("status.tls %+v", got.Status.TLS)
		}
		sec := &corev1.Secret{}
		if err := e.cl.Get(ctx, types.NamespacedName{Namespace: opNS, Name: got.Status.TLS.CASecretName}, sec); err != nil {
			return err
		}
		caPEM = sec.Data["ca.crt"]
		return nil
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in the CA Secret")
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: resources.TLSServerName(rc, resources.DefaultClusterDomain)}
	either := func(addrs []string) *redis.ClusterClient {
		opts := writeload.ClientOptions(addrs, nil)
		opts.Dialer = redisadmin.PlainTextOrTLSDialer(tlsCfg, time.Second)
		return redis.NewClusterClient(opts)
	}
	w := writeload.StartWith(context.Background(), either(addrs), "switch")

	seen := map[string]bool{}
	opWait(t, 8*time.Minute, "Ready and TLSReady after turning TLS on", func(ctx context.Context) error {
		got, err := e.get(ctx, name)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, redisv1alpha1.ConditionTLSReady.String()); c != nil && !seen[c.Message] {
			seen[c.Message] = true
			t.Logf("%v after the change: TLSReady %s %s: %s", time.Since(asked).Round(100*time.Millisecond), c.Status, c.Reason, c.Message)
		}
		ready := meta.FindStatusCondition(got.Status.Conditions, redisv1alpha1.ConditionReady.String())
		tlsReady := meta.FindStatusCondition(got.Status.Conditions, redisv1alpha1.ConditionTLSReady.String())
		switch {
		case ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != got.Generation:
			return fmt.Errorf("not Ready: %+v", ready)
		case tlsReady == nil || tlsReady.Status != metav1.ConditionTrue:
			return fmt.Errorf("not TLSReady: %+v", tlsReady)
		case got.Status.TLS == nil || !got.Status.TLS.Enabled:
			return fmt.Errorf("status.tls %+v", got.Status.TLS)
		}
		sts := &appsv1.StatefulSet{}
		for shard := range 3 {
			if err := e.cl.Get(ctx, types.NamespacedName{Namespace: opNS, Name: fmt.Sprintf("%s-%d", name, shard)}, sts); err != nil {
				return err
			}
			if strings.Contains(sts.Spec.Template.Annotations[resources.AnnotationTLSSwitch], resources.TLSSwitchFilesMounted) {
				return fmt.Errorf("%s still has the switch template", sts.Name)
			}
		}
		return nil
	})
	t.Logf("timing: spec.tls.enabled set -> Ready with TLS: %v", time.Since(asked).Round(100*time.Millisecond))
	time.Sleep(time.Second)
	res := w.Stop()
	addrs = e.addrs(t, name)
	lost, err := writeload.LostWith(t.Context(), newTLSClient(addrs, tlsCfg), "switch", res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: TLS turned on under a writer: %d writes acknowledged, %d errors (first: %v), worst gap %v, %d lost",
		len(res.Acked), res.Errors, res.FirstErr, res.WorstGap, len(lost))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged writes lost while TLS was turned on", len(lost))
	}

	after := newTLSClient(addrs, tlsCfg)
	defer func() { _ = after.Close() }()
	for k := range keys {
		if v, err := after.Get(t.Context(), fmt.Sprintf("before:%d", k)).Int(); err != nil || v != k {
			t.Fatalf("GET before:%d over TLS = %d, %v", k, v, err)
		}
	}
	for _, a := range addrs {
		open := redis.NewClient(&redis.Options{Addr: a, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
		if err := open.Ping(t.Context()).Err(); err == nil {
			t.Errorf("%s answers plain text after TLS was turned on", a)
		}
		_ = open.Close()
		wantExporterUp(t, a)
	}
}
