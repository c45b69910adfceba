package controller

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/certs"
)

// reconcileAt runs one pass with the clock at now.
func reconcileAt(t *testing.T, ns, name string, now time.Time) {
	t.Helper()
	r := &Reconciler{Client: apiClient, APIReader: apiClient, Clock: clocktesting.NewFakePassiveClock(now)}
	r.setDefaults()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}

func getSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		t.Fatalf("get Secret %s: %v", name, err)
	}
	return s
}

func tlsReady(t *testing.T, rc *redisv1alpha1.RedisCluster) *metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(rc.Status.Conditions, redisv1alpha1.ConditionTLSReady.String())
	if c == nil {
		t.Fatalf("no TLSReady condition in %+v", rc.Status.Conditions)
	}
	return c
}

func TestTLSOperatorIssuesSharesAndRenewsTheCertificate(t *testing.T) {
	needAPIServer(t)
	ns := newNamespace(t)
	createCluster(t, ns, "sec", func(rc *redisv1alpha1.RedisCluster) {
		rc.Spec.TLS = &redisv1alpha1.TLSSpec{Enabled: true}
	})
	now := time.Now()
	reconcileAt(t, ns, "sec", now)

	server := getSecret(t, ns, "sec-tls")
	b := certs.Bundle{Cert: server.Data["tls.crt"], Key: server.Data["tls.key"], CA: server.Data["ca.crt"]}
	f := certs.Check(b, now)
	if f.Problem != certs.ProblemNone || server.Type != corev1.SecretTypeTLS {
		t.Fatalf("sec-tls (%s): %s", server.Type, f.Message)
	}
	if _, err := f.Leaf.Verify(verifyOpts(t, b.CA, "sec-2-1.sec-nodes."+ns+".svc.cluster.local")); err != nil {
		t.Errorf("the certificate does not name the pods: %v", err)
	}
	clients := getSecret(t, ns, "sec-ca")
	if len(clients.Data) != 1 || string(clients.Data["ca.crt"]) != string(b.CA) {
		t.Errorf("sec-ca holds %d keys, want only ca.crt equal to the server Secret's", len(clients.Data))
	}
	fp, err := certs.BundleFingerprint(b.CA)
	if err != nil {
		t.Fatal(err)
	}
	if got := server.Data[resources.TLSCABundleKey(fp)]; string(got) != string(b.CA) {
		t.Errorf("sec-tls has no copy of ca.crt under %s, the file the nodes load their CAs from", resources.TLSCABundleKey(fp))
	}
	if issuer := getSecret(t, ns, "sec-tls-ca"); len(issuer.Data["ca.key"]) == 0 {
		t.Error("the issuer Secret has no CA key")
	}
	rc := getCluster(t, ns, "sec")
	if rc.Status.TLS == nil || rc.Status.TLS.CASecretName != "sec-ca" || !rc.Status.TLS.Enabled || rc.Status.TLS.NotAfter == nil {
		t.Fatalf("status.tls = %+v", rc.Status.TLS)
	}
	if c := tlsReady(t, rc); c.Status != metav1.ConditionFalse || c.Reason != string(redisv1alpha1.ReasonApplyingCertificate) {
		t.Errorf("TLSReady = %s %s %q, want False ApplyingCertificate (no pod runs)", c.Status, c.Reason, c.Message)
	}
	sts := &appsv1.StatefulSet{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "sec-0"}, sts); err != nil {
		t.Fatal(err)
	}
	if !mountsSecret(sts, "sec-tls") {
		t.Error("the StatefulSet does not mount sec-tls")
	}

	// A later pass keeps the certificate; one inside the renewal window
	// (default 30 days before expiry) issues a new one from the same CA,
	// once every node applied the current one.
	markApplied(t, ns, "sec")
	reconcileAt(t, ns, "sec", now.Add(59*24*time.Hour))
	if got := getSecret(t, ns, "sec-tls"); string(got.Data["tls.crt"]) != string(b.Cert) {
		t.Fatal("the certificate was issued again before its renewal was due")
	}
	reconcileAt(t, ns, "sec", now.Add(61*24*time.Hour))
	renewed := getSecret(t, ns, "sec-tls")
	if string(renewed.Data["tls.crt"]) == string(b.Cert) || string(renewed.Data["ca.crt"]) != string(b.CA) {
		t.Fatal("the certificate was not renewed from the same CA inside the renewal window")
	}
	if f := certs.Check(certs.Bundle{Cert: renewed.Data["tls.crt"], Key: renewed.Data["tls.key"], CA: renewed.Data["ca.crt"]}, now.Add(61*24*time.Hour)); f.Problem != certs.ProblemNone {
		t.Fatalf("renewed bundle: %s", f.Message)
	}
}

func TestTLSUserSecretProblemsAreNamedAndNeverReachThePods(t *testing.T) {
	needAPIServer(t)
	now := time.Now()
	ca, err := certs.NewCA("user CA", now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.NewCA("other CA", now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *certs.KeyPair, validity time.Duration) *certs.KeyPair {
		kp, err := certs.IssueServer(ca, "x", certs.SANs([]string{"x"}), now, validity, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	good, second, foreign := issue(ca, time.Hour), issue(ca, time.Hour), issue(other, time.Hour)
	for _, tc := range []struct {
		name   string
		data   map[string][]byte
		reason redisv1alpha1.ConditionReason
	}{
		{"without tls.key", map[string][]byte{"tls.crt": good.CertPEM, "ca.crt": ca.CertPEM}, redisv1alpha1.ReasonTLSSecretKeyMissing},
		{"a key that is not the certificate's", map[string][]byte{"tls.crt": good.CertPEM, "tls.key": second.KeyPEM, "ca.crt": ca.CertPEM}, redisv1alpha1.ReasonCertificateKeyMismatch},
		{"a certificate another CA signed", map[string][]byte{"tls.crt": foreign.CertPEM, "tls.key": foreign.KeyPEM, "ca.crt": ca.CertPEM}, redisv1alpha1.ReasonCertificateNotSignedByCA},
		{"no Secret", nil, redisv1alpha1.ReasonTLSSecretNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			if tc.data != nil {
				if err := apiClient.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"}, Data: tc.data}); err != nil {
					t.Fatal(err)
				}
			}
			createCluster(t, ns, "u", func(rc *redisv1alpha1.RedisCluster) {
				rc.Spec.TLS = &redisv1alpha1.TLSSpec{Enabled: true, SecretName: "mine"}
			})
			reconcileAt(t, ns, "u", now)
			c := tlsReady(t, getCluster(t, ns, "u"))
			if c.Status != metav1.ConditionFalse || c.Reason != string(tc.reason) || c.ObservedGeneration == 0 {
				t.Fatalf("TLSReady = %s %s %q, want False %s", c.Status, c.Reason, c.Message, tc.reason)
			}
			if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "u-tls"}, &corev1.Secret{}); err == nil {
				t.Error("the bad Secret was copied into u-tls, which the pods mount")
			}
		})
	}

	t.Run("a good Secret after a good one with a bad change keeps the good one", func(t *testing.T) {
		ns := newNamespace(t)
		mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"},
			Data: map[string][]byte{"tls.crt": good.CertPEM, "tls.key": good.KeyPEM, "ca.crt": ca.CertPEM}}
		if err := apiClient.Create(context.Background(), mine); err != nil {
			t.Fatal(err)
		}
		createCluster(t, ns, "u", func(rc *redisv1alpha1.RedisCluster) {
			rc.Spec.TLS = &redisv1alpha1.TLSSpec{Enabled: true, SecretName: "mine"}
		})
		reconcileAt(t, ns, "u", now)
		if got := getSecret(t, ns, "u-tls"); string(got.Data["tls.crt"]) != string(good.CertPEM) {
			t.Fatal("u-tls does not hold the user's certificate")
		}
		sts := &appsv1.StatefulSet{}
		if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "u-0"}, sts); err != nil {
			t.Fatal(err)
		}
		if !mountsSecret(sts, "u-tls") || mountsSecret(sts, "mine") {
			t.Error("the pods do not mount u-tls, the checked copy of the user's Secret")
		}
		mine.Data["tls.key"] = second.KeyPEM
		if err := apiClient.Update(context.Background(), mine); err != nil {
			t.Fatal(err)
		}
		reconcileAt(t, ns, "u", now)
		if got := getSecret(t, ns, "u-tls"); string(got.Data["tls.key"]) != string(good.KeyPEM) {
			t.Fatal("a mismatched key reached u-tls")
		}
		if c := tlsReady(t, getCluster(t, ns, "u")); c.Reason != string(redisv1alpha1.ReasonCertificateKeyMismatch) {
			t.Fatalf("TLSReady reason %s, want CertificateKeyMismatch", c.Reason)
		}
		// Expired: checked with the clock a day on.
		mine.Data["tls.key"] = good.KeyPEM
		if err := apiClient.Update(context.Background(), mine); err != nil {
			t.Fatal(err)
		}
		reconcileAt(t, ns, "u", now.Add(24*time.Hour))
		if c := tlsReady(t, getCluster(t, ns, "u")); c.Reason != string(redisv1alpha1.ReasonCertificateExpired) {
			t.Fatalf("TLSReady reason %s, want CertificateExpired", c.Reason)
		}
	})
}

// TestTLSTurnedOnForARunningClusterFirstMountsTheFiles: the first pass
// after spec.tls.enabled was set for a running plain cluster writes the
// certificates and rolls the pods to a template that mounts them while
// redis.conf stays plain text (pkg/tlsswitch); restoring the spec before
// any node switched goes back to the plain template.
func TestTLSTurnedOnForARunningClusterFirstMountsTheFiles(t *testing.T) {
	needAPIServer(t)
	ns := newNamespace(t)
	createCluster(t, ns, "p", nil)
	now := time.Now()
	reconcileAt(t, ns, "p", now)
	rc := getCluster(t, ns, "p")
	rc.Spec.TLS = &redisv1alpha1.TLSSpec{Enabled: true}
	if err := apiClient.Update(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	reconcileAt(t, ns, "p", now)
	rc = getCluster(t, ns, "p")
	if c := tlsReady(t, rc); c.Reason != string(redisv1alpha1.ReasonSwitchingToTLS) || c.ObservedGeneration != rc.Generation || !strings.Contains(c.Message, "step 1 of 3") {
		t.Fatalf("TLSReady = %s %q (generation %d of %d), want SwitchingToTLS step 1", c.Reason, c.Message, c.ObservedGeneration, rc.Generation)
	}
	if rc.Status.TLS == nil || rc.Status.TLS.Enabled || rc.Status.TLS.CASecretName != "p-ca" {
		t.Fatalf("status.tls = %+v, want not enabled yet, with the CA Secret for clients", rc.Status.TLS)
	}
	getSecret(t, ns, "p-tls")
	sts := &appsv1.StatefulSet{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "p-0"}, sts); err != nil {
		t.Fatal(err)
	}
	if !mountsSecret(sts, "p-tls") || sts.Spec.Template.Annotations[resources.AnnotationTLSSwitch] != resources.TLSSwitchFilesMounted {
		t.Fatal("the pods were not given the TLS files for the switch")
	}
	cm := &corev1.ConfigMap{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: resources.ConfigMapName(rc)}, cm); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cm.Data[resources.ConfigKey], "tls-port") {
		t.Fatal("redis.conf turned to TLS before the nodes were switched")
	}
	// Restoring the spec before any node switched: back to plain text.
	rc.Spec.TLS = nil
	if err := apiClient.Update(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	reconcileAt(t, ns, "p", now)
	rc = getCluster(t, ns, "p")
	if c := meta.FindStatusCondition(rc.Status.Conditions, redisv1alpha1.ConditionTLSReady.String()); c != nil || rc.Status.TLS != nil {
		t.Fatalf("after restoring the spec: TLSReady %+v, status.tls %+v", c, rc.Status.TLS)
	}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "p-0"}, sts); err != nil {
		t.Fatal(err)
	}
	if mountsSecret(sts, "p-tls") {
		t.Fatal("the pods keep the TLS files after the spec was restored")
	}
}

// TestTLSTurnedOnWithAMissingSecretDoesNotStart: turning TLS on for a
// running cluster with a spec.tls.secretName that does not exist names
// the problem and leaves the pods as they are (their template would mount
// a Secret that is not there).
func TestTLSTurnedOnWithAMissingSecretDoesNotStart(t *testing.T) {
	needAPIServer(t)
	ns := newNamespace(t)
	createCluster(t, ns, "m", nil)
	now := time.Now()
	reconcileAt(t, ns, "m", now)
	rc := getCluster(t, ns, "m")
	rc.Spec.TLS = &redisv1alpha1.TLSSpec{Enabled: true, SecretName: "absent"}
	if err := apiClient.Update(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	reconcileAt(t, ns, "m", now)
	rc = getCluster(t, ns, "m")
	if c := tlsReady(t, rc); c.Reason != string(redisv1alpha1.ReasonTLSSecretNotFound) {
		t.Fatalf("TLSReady = %s %q, want TLSSecretNotFound", c.Reason, c.Message)
	}
	sts := &appsv1.StatefulSet{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "m-0"}, sts); err != nil {
		t.Fatal(err)
	}
	if mountsSecret(sts, "m-tls") {
		t.Fatal("the pods were given a TLS Secret that does not exist")
	}
}

func TestTLSTurnedOffForARunningClusterIsRefusedAndChangesNothing(t *testing.T) {
	needAPIServer(t)
	ns := newNamespace(t)
	createCluster(t, ns, "s", func(rc *redisv1alpha1.RedisCluster) {
		rc.Spec.TLS = &redisv1alpha1.TLSSpec{Enabled: true}
	})
	now := time.Now()
	reconcileAt(t, ns, "s", now)
	rc := getCluster(t, ns, "s")
	rc.Spec.TLS.Enabled = false
	if err := apiClient.Update(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	reconcileAt(t, ns, "s", now)
	rc = getCluster(t, ns, "s")
	if c := tlsReady(t, rc); c.Reason != string(redisv1alpha1.ReasonTLSToggleRefused) || c.ObservedGeneration != rc.Generation {
		t.Fatalf("TLSReady = %s %q (generation %d of %d), want TLSToggleRefused", c.Reason, c.Message, c.ObservedGeneration, rc.Generation)
	}
	sts := &appsv1.StatefulSet{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "s-0"}, sts); err != nil {
		t.Fatal(err)
	}
	if !mountsSecret(sts, "s-tls") {
		t.Fatal("the running TLS cluster's pods lost TLS")
	}
}

func TestTLSRenewBeforeIsValidatedByTheCRD(t *testing.T) {
	needAPIServer(t)
	ns := newNamespace(t)
	for _, tc := range []struct {
		name string
		tls  redisv1alpha1.TLSSpec
		ok   bool
	}{
		{"720h", redisv1alpha1.TLSSpec{Enabled: true, RenewBefore: &metav1.Duration{Duration: 720 * time.Hour}}, true},
		{"as long as the validity", redisv1alpha1.TLSSpec{Enabled: true, RenewBefore: &metav1.Duration{Duration: 2160 * time.Hour}}, false},
		{"with a user Secret", redisv1alpha1.TLSSpec{Enabled: true, SecretName: "s", RenewBefore: &metav1.Duration{Duration: time.Hour}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &redisv1alpha1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "v-"}}
			redisv1alpha1.SetDefaults(rc)
			rc.Spec.TLS = &tc.tls
			err := apiClient.Create(context.Background(), rc)
			if (err == nil) != tc.ok {
				t.Fatalf("create: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func mountsSecret(sts *appsv1.StatefulSet, name string) bool {
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == name && v.Name == resources.TLSVolumeName {
			return true
		}
	}
	return false
}

func verifyOpts(t *testing.T, caPEM []byte, name string) x509.VerifyOptions {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in ca.crt")
	}
	return x509.VerifyOptions{Roots: roots, DNSName: name}
}

// markApplied records in the status what the nodes would report once each
// of them served <name>-tls as it is now (no pod runs in these tests).
func markApplied(t *testing.T, ns, name string) {
	t.Helper()
	b := bundleOf(getSecret(t, ns, name+"-tls"))
	leaf, err := certs.ParseCertificates(b.Cert)
	if err != nil {
		t.Fatal(err)
	}
	caPrint, err := certs.BundleFingerprint(b.CA)
	if err != nil {
		t.Fatal(err)
	}
	rc := getCluster(t, ns, name)
	rc.Status.TLS.CertificateFingerprint = certs.Fingerprint(leaf[0])
	rc.Status.TLS.CAFingerprint = caPrint
	if err := apiClient.Status().Update(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
}

func TestTLSACertificateOfANewCAAtOnceGoesThroughBothCAs(t *testing.T) {
	needAPIServer(t)
	now := time.Now()
	issue := func(name string) (*certs.KeyPair, *certs.KeyPair) {
		ca, err := certs.NewCA(name, now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := certs.IssueServer(ca, "x", certs.SANs([]string{"x"}), now, time.Hour, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return ca, kp
	}
	oldCA, oldCert := issue("old CA")
	newCA, newCert := issue("new CA")
	ns := newNamespace(t)
	mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"},
		Data: map[string][]byte{"tls.crt": oldCert.CertPEM, "tls.key": oldCert.KeyPEM, "ca.crt": oldCA.CertPEM}}
	if err := apiClient.Create(context.Background(), mine); err != nil {
		t.Fatal(err)
	}
	createCluster(t, ns, "u", func(rc *redisv1alpha1.RedisCluster) {
		rc.Spec.TLS = &redisv1alpha1.TLSSpec{Enabled: true, SecretName: "mine"}
	})
	reconcileAt(t, ns, "u", now)
	markApplied(t, ns, "u")

	// cert-manager after its issuer's CA was replaced: the new CA's
	// certificate and only the new CA, in one update.
	mine.Data = map[string][]byte{"tls.crt": newCert.CertPEM, "tls.key": newCert.KeyPEM, "ca.crt": newCA.CertPEM}
	if err := apiClient.Update(context.Background(), mine); err != nil {
		t.Fatal(err)
	}
	both := func(ca []byte) bool {
		cs, err := certs.ParseCertificates(ca)
		return err == nil && len(cs) == 2
	}
	for i, want := range []struct {
		cert         []byte
		bothCAs      bool
		conditionHas string
	}{
		{oldCert.CertPEM, true, "step 1 of 3"},
		{newCert.CertPEM, true, "step 2 of 3"},
		{newCert.CertPEM, false, "every node serves certificate"},
	} {
		reconcileAt(t, ns, "u", now)
		got := getSecret(t, ns, "u-tls")
		if string(got.Data["tls.crt"]) != string(want.cert) || both(got.Data["ca.crt"]) != want.bothCAs {
			t.Fatalf("step %d: u-tls holds the %s certificate and %d-CA ca.crt", i+1,
				map[bool]string{true: "new", false: "old"}[string(got.Data["tls.crt"]) == string(newCert.CertPEM)], map[bool]int{true: 2, false: 1}[both(got.Data["ca.crt"])])
		}
		if clients := getSecret(t, ns, "u-ca"); string(clients.Data["ca.crt"]) != string(got.Data["ca.crt"]) {
			t.Errorf("step %d: u-ca does not give clients the CAs the nodes are given", i+1)
		}
		// Until every node applied the step, the next pass keeps it.
		if i < 2 {
			reconcileAt(t, ns, "u", now)
			if again := getSecret(t, ns, "u-tls"); string(again.Data["tls.crt"]) != string(got.Data["tls.crt"]) || string(again.Data["ca.crt"]) != string(got.Data["ca.crt"]) {
				t.Fatalf("step %d: the next step was given before every node applied this one", i+1)
			}
			if c := tlsReady(t, getCluster(t, ns, "u")); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, want.conditionHas) {
				t.Errorf("step %d: TLSReady %s %q, want False naming %q", i+1, c.Status, c.Message, want.conditionHas)
			}
		}
		markApplied(t, ns, "u")
	}
}
