package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/certs"
	"github.com/redkube/redkube/test/writeload"
)

// testTLS creates a cluster with operator-issued TLS certificates: it
// becomes Ready, a go-redis ClusterClient trusting the CA from
// status.tls.caSecretName writes and reads, redis-cli --tls works from the
// host, a plain-text client is refused, the exporter reports redis_up 1
// over TLS, and a renewal of the certificate under a TLS writer reaches
// every node with no pod restarted and no write failed. plain, when it
// is a Ready plain-text cluster, gets the same writer for the same time,
// to compare the throughput.
func testTLS(t *testing.T, e *opEnv, plain string) {
	const name = "tls"
	rc := &redisv1alpha1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opNS},
		Spec: redisv1alpha1.RedisClusterSpec{
			Masters: 3, ReplicasPerMaster: 1,
			Config:     map[string]redisv1alpha1.ConfigValue{"cluster-node-timeout": "2000"},
			Storage:    redisv1alpha1.StorageSpec{Size: resource.MustParse("64Mi")},
			TLS:        &redisv1alpha1.TLSSpec{Enabled: true},
			Monitoring: &redisv1alpha1.MonitoringSpec{Exporter: &redisv1alpha1.ExporterSpec{Enabled: true}},
		},
	}
	applied := e.create(t.Context(), t, rc)
	e.waitReady(t, name, applied, 3*time.Minute)
	t.Logf("timing: create with TLS -> Ready: %v", time.Since(applied))
	got := waitTLSReady(t, e, name, "")
	if got.Status.TLS.CASecretName != name+"-ca" {
		t.Fatalf("status.tls.caSecretName = %q", got.Status.TLS.CASecretName)
	}
	sec := &corev1.Secret{}
	if err := e.cl.Get(t.Context(), types.NamespacedName{Namespace: opNS, Name: got.Status.TLS.CASecretName}, sec); err != nil {
		t.Fatal(err)
	}
	caPEM := sec.Data["ca.crt"]
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("Secret %s has no CA in ca.crt", sec.Name)
	}
	// Pod IPs cannot be in the certificate: the client verifies the
	// access Service's name, which it holds.
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: resources.TLSServerName(got, resources.DefaultClusterDomain)}
	addrs := e.addrs(t, name)
	for _, a := range addrs {
		wantExporterUp(t, a)
	}

	open := redis.NewClient(&redis.Options{Addr: addrs[0], DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	err := open.Ping(t.Context()).Err()
	_ = open.Close()
	if err == nil {
		t.Error("a plain-text client was answered on the client port of a TLS cluster")
	}
	t.Logf("plain-text PING to %s: %v", addrs[0], err)

	opts := writeload.ClientOptions(addrs, nil)
	opts.TLSConfig = tlsCfg
	cc := redis.NewClusterClient(opts)
	defer func() { _ = cc.Close() }()
	for k := range 100 {
		if err := cc.Set(t.Context(), fmt.Sprintf("tls:%d", k), k, 0).Err(); err != nil {
			t.Fatalf("SET tls:%d over TLS: %v", k, err)
		}
	}
	for k := range 100 {
		if v, err := cc.Get(t.Context(), fmt.Sprintf("tls:%d", k)).Int(); err != nil || v != k {
			t.Fatalf("GET tls:%d over TLS = %d, %v", k, v, err)
		}
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addrs[0])
	out, err := exec.CommandContext(t.Context(), "redis-cli", "--tls", "--cacert", caFile, "--sni", tlsCfg.ServerName, "-h", host, "-p", port, "PING").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "PONG" {
		t.Errorf("redis-cli --tls PING = %q, %v", out, err)
	}

	// Throughput of one writer, TLS and plain text, for the same time.
	const measure = 10 * time.Second
	rate := func(w *writeload.Writer) (float64, writeload.Result) {
		time.Sleep(measure)
		res := w.Stop()
		return float64(len(res.Acked)) / measure.Seconds(), res
	}
	tlsRate, tlsRes := rate(writeload.StartWith(context.Background(), newTLSClient(addrs, tlsCfg), "tlsrate"))
	t.Logf("measured: TLS writer %.0f keys/s (%d errors)", tlsRate, tlsRes.Errors)
	if plainRC, err := e.get(t.Context(), plain); err == nil && meta.IsStatusConditionTrue(plainRC.Status.Conditions, redisv1alpha1.ConditionReady.String()) {
		plainRate, plainRes := rate(writeload.Start(context.Background(), e.addrs(t, plain), "plainrate"))
		t.Logf("measured: plain-text writer %.0f keys/s (%d errors) on cluster %s; TLS/plain = %.2f", plainRate, plainRes.Errors, plain, tlsRate/plainRate)
	}

	// Renewal under a TLS writer: a renewBefore just under the 90 days of
	// validity makes the certificate due at once.
	before, err := e.pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	oldPrint := got.Status.TLS.CertificateFingerprint
	w := writeload.StartWith(context.Background(), newTLSClient(addrs, tlsCfg), "renew")
	time.Sleep(time.Second)
	renewAsked := time.Now()
	mergePatchCluster(t, e, name, `{"spec":{"tls":{"renewBefore":"2159h58m"}}}`)
	renewed := waitTLSReady(t, e, name, oldPrint)
	t.Logf("timing: renewBefore set -> every node serves the renewed certificate: %v", time.Since(renewAsked))
	mergePatchCluster(t, e, name, `{"spec":{"tls":{"renewBefore":null}}}`)
	time.Sleep(time.Second)
	res := w.Stop()
	lost, err := writeload.LostWith(t.Context(), newTLSClient(addrs, tlsCfg), "renew", res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: certificate renewal %s -> %s under a TLS writer: %d writes acknowledged, %d errors (first: %v), worst gap %v, %d lost",
		oldPrint[:12], renewed.Status.TLS.CertificateFingerprint[:12], len(res.Acked), res.Errors, res.FirstErr, res.WorstGap, len(lost))
	if res.Errors > 0 || len(lost) > 0 {
		t.Errorf("renewal: %d write errors, %d acknowledged writes lost; want none", res.Errors, len(lost))
	}
	samePods(t, e, name, before, "the renewal")

	testCARollover(t, e, renewed, tlsCfg)
}

// samePods fails the test for every pod of before that was replaced or
// restarted since.
func samePods(t *testing.T, e *opEnv, name string, before map[string]corev1.Pod, during string) {
	t.Helper()
	after, err := e.pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	for n, p := range before {
		q, ok := after[n]
		if !ok || q.UID != p.UID || restarts(q) != restarts(p) {
			t.Errorf("pod %s was replaced or restarted during %s", n, during)
		}
	}
}

// testCARollover moves the running TLS cluster rc from its
// operator-issued certificate to the user's Secret <name>-mine and rolls
// that over to a new CA in the three documented steps (both CAs in
// ca.crt; a certificate of the new CA; the old CA dropped), then to a
// third CA in one update as cert-manager makes it (a certificate of the
// third CA, ca.crt holding only it), which the operator takes through
// both CAs itself; all under a TLS writer that trusts the three CAs (a
// client that took each new ca.crt in time): no pod restarted, no write
// failed, and at the end a client that trusts only an old CA is refused.
func testCARollover(t *testing.T, e *opEnv, rc *redisv1alpha1.RedisCluster, oldCfg *tls.Config) {
	name := rc.Name
	server := &corev1.Secret{}
	if err := e.cl.Get(t.Context(), types.NamespacedName{Namespace: opNS, Name: resources.TLSServerSecretName(rc)}, server); err != nil {
		t.Fatal(err)
	}
	oldCA := server.Data[redisv1alpha1.TLSCAKey]
	leaf, err := certs.ParseCertificates(server.Data[redisv1alpha1.TLSCertKey])
	if err != nil {
		t.Fatal(err)
	}
	newCA, err := certs.NewCA("rollover CA", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	thirdCA, err := certs.NewCA("cert-manager CA", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	both := append(append([]byte{}, oldCA...), newCA.CertPEM...)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(both)
	roots.AppendCertsFromPEM(thirdCA.CertPEM)
	cfg := oldCfg.Clone()
	cfg.RootCAs = roots
	addrs := e.addrs(t, name)
	before, err := e.pods(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}

	mine := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: opNS, Name: name + "-mine"},
		Data: map[string][]byte{
			redisv1alpha1.TLSCertKey: server.Data[redisv1alpha1.TLSCertKey], redisv1alpha1.TLSKeyKey: server.Data[redisv1alpha1.TLSKeyKey],
			redisv1alpha1.TLSCAKey: both,
		},
	}
	if err := e.cl.Create(t.Context(), mine); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.kubectl(t, "delete", "secret", mine.Name, "--wait=false") })
	w := writeload.StartWith(context.Background(), newTLSClient(addrs, cfg), "rollover")
	time.Sleep(time.Second)

	step := func(what string, change func(), done func(*redisv1alpha1.TLSStatus) bool) {
		t.Helper()
		began := time.Now()
		change()
		opWait(t, 6*time.Minute, what+": TLSReady True", func(ctx context.Context) error {
			got, err := e.get(ctx, name)
			if err != nil {
				return err
			}
			c := meta.FindStatusCondition(got.Status.Conditions, redisv1alpha1.ConditionTLSReady.String())
			if c == nil || c.Status != metav1.ConditionTrue || got.Status.TLS == nil || !done(got.Status.TLS) {
				return fmt.Errorf("TLSReady %+v, status.tls %+v", c, got.Status.TLS)
			}
			return nil
		})
		t.Logf("timing: CA rollover, %s -> every node applied it: %v", what, time.Since(began))
	}
	update := func(data map[string][]byte) {
		t.Helper()
		for k, v := range data {
			mine.Data[k] = v
		}
		if err := e.cl.Update(t.Context(), mine); err != nil {
			t.Fatalf("update Secret %s: %v", mine.Name, err)
		}
	}
	bundle := func(pemData []byte) string {
		t.Helper()
		fp, err := certs.BundleFingerprint(pemData)
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}

	step("1. spec.tls.secretName set to a Secret with both CAs in ca.crt", func() {
		mergePatchCluster(t, e, name, fmt.Sprintf(`{"spec":{"tls":{"secretName":%q}}}`, mine.Name))
	}, func(s *redisv1alpha1.TLSStatus) bool { return s.CAFingerprint == bundle(both) })

	names := certs.SANs(append(leaf[0].DNSNames, ipText(leaf[0].IPAddresses)...))
	kp, err := certs.IssueServer(newCA, leaf[0].Subject.CommonName, names, time.Now(), 24*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	step("2. a certificate of the new CA", func() {
		update(map[string][]byte{redisv1alpha1.TLSCertKey: kp.CertPEM, redisv1alpha1.TLSKeyKey: kp.KeyPEM})
	}, func(s *redisv1alpha1.TLSStatus) bool { return s.CertificateFingerprint == certs.Fingerprint(kp.Cert) })

	step("3. the old CA dropped from ca.crt", func() {
		update(map[string][]byte{redisv1alpha1.TLSCAKey: newCA.CertPEM})
	}, func(s *redisv1alpha1.TLSStatus) bool { return s.CAFingerprint == bundle(newCA.CertPEM) })

	third, err := certs.IssueServer(thirdCA, leaf[0].Subject.CommonName, names, time.Now(), 24*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	step("4. a certificate of a third CA with only that CA in ca.crt, in one update", func() {
		update(map[string][]byte{redisv1alpha1.TLSCertKey: third.CertPEM, redisv1alpha1.TLSKeyKey: third.KeyPEM, redisv1alpha1.TLSCAKey: thirdCA.CertPEM})
	}, func(s *redisv1alpha1.TLSStatus) bool {
		return s.CertificateFingerprint == certs.Fingerprint(third.Cert) && s.CAFingerprint == bundle(thirdCA.CertPEM)
	})
	wantEvent(t, e, name, "CARolloverStep", "step 1 of 3")
	wantEvent(t, e, name, "CARolloverStep", "step 2 of 3")

	time.Sleep(time.Second)
	res := w.Stop()
	lost, err := writeload.LostWith(t.Context(), newTLSClient(addrs, cfg), "rollover", res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: CA rollovers (three steps by hand, then one update the operator takes in three) under a TLS writer: %d writes acknowledged, %d errors (first: %v), worst gap %v, %d lost",
		len(res.Acked), res.Errors, res.FirstErr, res.WorstGap, len(lost))
	if res.Errors > 0 || len(lost) > 0 {
		t.Errorf("CA rollover: %d write errors, %d acknowledged writes lost; want none", res.Errors, len(lost))
	}
	samePods(t, e, name, before, "the CA rollover")

	// The nodes now present a certificate only the third CA signed.
	onlyNew := x509.NewCertPool()
	onlyNew.AppendCertsFromPEM(thirdCA.CertPEM)
	newCfg := oldCfg.Clone()
	newCfg.RootCAs = onlyNew
	for _, c := range []struct {
		cfg  *tls.Config
		want bool
	}{{newCfg, true}, {oldCfg, false}} {
		cl := redis.NewClient(&redis.Options{Addr: addrs[0], TLSConfig: c.cfg, DialTimeout: 2 * time.Second, MaxRetries: -1})
		err := cl.Ping(t.Context()).Err()
		_ = cl.Close()
		if (err == nil) != c.want {
			t.Errorf("PING trusting only the %s CA: %v", map[bool]string{true: "new", false: "old"}[c.want], err)
		}
	}
}

func ipText(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// newTLSClient is the writers' cluster client over TLS.
func newTLSClient(addrs []string, cfg *tls.Config) *redis.ClusterClient {
	opts := writeload.ClientOptions(addrs, nil)
	opts.TLSConfig = cfg
	return redis.NewClusterClient(opts)
}

func mergePatchCluster(t *testing.T, e *opEnv, name, patch string) {
	t.Helper()
	rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Namespace: opNS, Name: name}}
	if err := e.cl.Patch(t.Context(), rc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
}

// waitTLSReady waits for TLSReady True with a certificate fingerprint
// other than not.
func waitTLSReady(t *testing.T, e *opEnv, name, not string) *redisv1alpha1.RedisCluster {
	t.Helper()
	var rc *redisv1alpha1.RedisCluster
	opWait(t, 3*time.Minute, "TLSReady True with a new certificate", func(ctx context.Context) error {
		var err error
		if rc, err = e.get(ctx, name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(rc.Status.Conditions, redisv1alpha1.ConditionTLSReady.String())
		switch {
		case c == nil:
			return fmt.Errorf("no TLSReady condition")
		case c.Status != metav1.ConditionTrue:
			return fmt.Errorf("TLSReady %s %s: %s", c.Status, c.Reason, c.Message)
		case rc.Status.TLS == nil || rc.Status.TLS.CertificateFingerprint == "" || rc.Status.TLS.CertificateFingerprint == not:
			return fmt.Errorf("status.tls %+v", rc.Status.TLS)
		}
		return nil
	})
	return rc
}
