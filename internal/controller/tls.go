package controller

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/certs"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/tlsswitch"
)

// TLS (spec.tls): the operator keeps the Secret the pods mount
// (<name>-tls) and copies into it only a certificate that passed
// certs.Check, whether it issued it or took it from spec.tls.secretName;
// a bad Secret therefore never reaches a pod, even one that restarts. A
// change of that Secret's certificate is applied to the running nodes by
// reloading their files (redisadmin.ReloadTLS) once their kubelet has
// refreshed them, and counts as applied when a TLS handshake with every
// node presents it (docs/design/2026-12-05-tls.md).

// Event reasons of TLS.
const (
	// EventCertificateIssued: the operator issued a CA or server certificate.
	EventCertificateIssued = "CertificateIssued"
	// EventCertificateApplied: every node serves the current certificate.
	EventCertificateApplied = "CertificateApplied"
	// EventTLSSecretInvalid: the TLS Secret cannot be used; the note says why.
	EventTLSSecretInvalid = "TLSSecretInvalid"
	// EventTLSToggleRefused: spec.tls.enabled changed for a running cluster.
	EventTLSToggleRefused = "TLSToggleRefused"
	// EventTLSReloaded: nodes were made to reload their TLS files.
	EventTLSReloaded = "TLSReloaded"
	// EventCARolloverStep: the nodes are given a step of a CA rollover
	// (certs.NextBundle) on the way to a certificate of a new CA.
	EventCARolloverStep = "CARolloverStep"
)

// RequeueTLS is the delay while some node still serves an older
// certificate: the kubelet refreshes a mounted Secret within about a
// minute, and the pass that sees the new files reloads them.
const RequeueTLS = 2 * time.Second

// tlsRand is the randomness of issued keys and serial numbers.
var tlsRand io.Reader = rand.Reader

var tlsExpiryDays = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "redkube_tls_certificate_expiry_days",
	Help: "Days until the server certificate the nodes are given expires (negative once expired); absent without TLS.",
}, []string{"namespace", "name"})

func init() { ctrlmetrics.Registry.MustRegister(tlsExpiryDays) }

// tlsState is the pass's TLS finding and what it prepared.
type tlsState struct {
	// on is whether the pods run TLS: spec.tls.enabled, or the mode the
	// running pods were created with when turning it off is refused.
	on bool
	// sw is the pass's step of turning TLS on for a running cluster
	// (tlsswitch.Next): the mode rendered, and the nodes to switch live.
	sw tlsswitch.Step
	// render is the RedisCluster the objects are rendered from (st.rc, or
	// a copy with spec.tls set to the mode rendered).
	render *redisv1alpha1.RedisCluster
	// refused is the message of a refused toggle.
	refused string
	// problem and message describe a Secret that cannot be used.
	problem redisv1alpha1.ConditionReason
	message string
	// leaf is the certificate the nodes are to serve (nil: none usable).
	leaf *x509.Certificate
	// caPrint is the fingerprint of the CA bundle the nodes are to trust
	// (certs.BundleFingerprint of ca.crt).
	caPrint string
	// step is where the nodes' Secret stands on the way to what is wanted
	// (certs.NextBundle): the wanted bundle itself, or a CA rollover step.
	step certs.Step
	// waiting is set while <name>-tls keeps a bundle not every running
	// node applied yet, although another one is wanted.
	waiting bool
	// applied is set once every running node was seen serving leaf with
	// the current CA bundle; verified needs every pod running as well.
	applied bool
	// config is the operator's client configuration.
	config *tls.Config
	// verified is set once every node was seen serving leaf.
	verified bool
	// lagging names the nodes that do not serve leaf yet.
	lagging []string
}

// renderCluster is the RedisCluster the pass renders objects from.
func (st *state) renderCluster() *redisv1alpha1.RedisCluster {
	if st.tls != nil && st.tls.render != nil {
		return st.tls.render
	}
	return st.rc
}

// prepareTLS decides whether the pods run TLS (or are on their way to it,
// pkg/tlsswitch), keeps the Secrets of the certificates, and builds the
// operator's TLS client configuration.
func (r *Reconciler) prepareTLS(ctx context.Context, st *state) error {
	rc := st.rc
	obs, err := r.observeTLSSwitch(ctx, st)
	if err != nil {
		return err
	}
	sw := tlsswitch.Next(obs)
	t := &tlsState{on: sw.Render == tlsswitch.ModeOn, sw: sw, render: renderFor(rc, sw.Render)}
	st.tls = t
	if sw.Phase == tlsswitch.PhaseRefused {
		t.refused = sw.Message
	}
	if sw.Render == tlsswitch.ModeOff {
		return nil
	}
	live, err := r.getSecret(ctx, rc.Namespace, resources.TLSServerSecretName(rc))
	if err != nil {
		return err
	}
	want, err := r.wantedBundle(ctx, st, live)
	switch {
	case err != nil:
		return err
	case t.problem != "" && live == nil:
		// No Secret the pods could mount: a switch to TLS does not start.
		if obs.Templates == tlsswitch.ModeOff {
			t.sw, t.render = tlsswitch.Step{Render: tlsswitch.ModeOff}, renderFor(rc, tlsswitch.ModeOff)
		}
		return nil
	case t.problem != "":
		// Keep serving what the pods have.
		want = bundleOf(live)
	case live != nil:
		want = r.rolloverStep(st, live, want)
	}
	if f := certs.Check(want, r.Clock.Now()); f.Problem == certs.ProblemNone {
		t.leaf = f.Leaf
	}
	if t.caPrint, err = certs.BundleFingerprint(want.CA); err != nil {
		return fmt.Errorf("fingerprint ca.crt: %w", err)
	}
	if err := r.writeTLSSecrets(ctx, st, live, want); err != nil {
		return err
	}
	t.config = clientTLSConfig(rc, r.clusterDomain(), live, want)
	return nil
}

// getSecret reads a Secret around the cache; nil when it does not exist.
func (r *Reconciler) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get Secret %s: %w", name, err)
	}
	return s, nil
}

// bundleOf is a Secret's content as a certificate bundle.
func bundleOf(s *corev1.Secret) certs.Bundle {
	if s == nil {
		return certs.Bundle{}
	}
	return certs.Bundle{Cert: s.Data[redisv1alpha1.TLSCertKey], Key: s.Data[redisv1alpha1.TLSKeyKey], CA: s.Data[redisv1alpha1.TLSCAKey]}
}

// wantedBundle is the content <name>-tls should hold: the user's Secret
// when it passes the checks (st.tls.problem otherwise), or the
// operator-issued certificate, issued again when missing, due for renewal
// or no longer covering the cluster's names.
func (r *Reconciler) wantedBundle(ctx context.Context, st *state, live *corev1.Secret) (certs.Bundle, error) {
	rc := st.rc
	if spec := rc.Spec.TLS; spec != nil && spec.SecretName != "" {
		user, err := r.getSecret(ctx, rc.Namespace, spec.SecretName)
		if err != nil {
			return certs.Bundle{}, err
		}
		if user == nil {
			st.tls.problem = redisv1alpha1.ReasonTLSSecretNotFound
			st.tls.message = fmt.Sprintf("spec.tls.secretName: Secret %q not found", spec.SecretName)
			return certs.Bundle{}, nil
		}
		b := bundleOf(user)
		if f := certs.Check(b, r.Clock.Now()); f.Problem != certs.ProblemNone {
			st.tls.problem = problemReason(f.Problem)
			st.tls.message = fmt.Sprintf("spec.tls.secretName: Secret %q: %s; the nodes keep their current certificate", spec.SecretName, f.Message)
			return certs.Bundle{}, nil
		}
		return b, nil
	}
	return r.issuedBundle(ctx, st, live)
}

// problemReason maps a certs.Problem to TLSReady's reason.
func problemReason(p certs.Problem) redisv1alpha1.ConditionReason {
	switch p {
	case certs.ProblemKeyMissing:
		return redisv1alpha1.ReasonTLSSecretKeyMissing
	case certs.ProblemKeyMismatch:
		return redisv1alpha1.ReasonCertificateKeyMismatch
	case certs.ProblemExpired:
		return redisv1alpha1.ReasonCertificateExpired
	case certs.ProblemNotSignedByCA:
		return redisv1alpha1.ReasonCertificateNotSignedByCA
	}
	return redisv1alpha1.ReasonCertificateInvalid
}

// Keys of the issuer Secret (<name>-tls-ca).
const (
	issuerCertKey = "ca.crt"
	issuerKeyKey  = "ca.key"
)

// renewBefore is spec.tls.renewBefore or its default.
func renewBefore(rc *redisv1alpha1.RedisCluster) time.Duration {
	if t := rc.Spec.TLS; t != nil && t.RenewBefore != nil {
		return t.RenewBefore.Duration
	}
	return redisv1alpha1.DefaultTLSRenewBefore * time.Second
}

// issuedBundle returns the operator-issued bundle: the CA from
// <name>-tls-ca (created first when missing) and the live server
// certificate, or a new one when it is due (certs.NeedsIssue).
func (r *Reconciler) issuedBundle(ctx context.Context, st *state, live *corev1.Secret) (certs.Bundle, error) {
	rc := st.rc
	now := r.Clock.Now()
	ca, err := r.issuer(ctx, st)
	if err != nil {
		return certs.Bundle{}, err
	}
	names := certs.SANs(resources.TLSHosts(rc, r.clusterDomain()))
	current := bundleOf(live)
	why := certs.NeedsIssue(current, ca, names, now, renewBefore(rc))
	if why == "" {
		current.CA = ca.CertPEM
		return current, nil
	}
	kp, err := certs.IssueServer(ca, resources.AccessServiceName(rc), names, now, certs.ServerValidity, tlsRand)
	if err != nil {
		return certs.Bundle{}, fmt.Errorf("issue the server certificate: %w", err)
	}
	r.event(rc, corev1.EventTypeNormal, EventCertificateIssued, "IssueCertificate", "issued a server certificate valid until %s: %s",
		kp.Cert.NotAfter.UTC().Format(time.RFC3339), why)
	return certs.Bundle{Cert: kp.CertPEM, Key: kp.KeyPEM, CA: ca.CertPEM}, nil
}

// issuer reads the operator's CA from <name>-tls-ca, creating it first.
func (r *Reconciler) issuer(ctx context.Context, st *state) (*certs.KeyPair, error) {
	rc := st.rc
	name := resources.TLSIssuerSecretName(rc)
	sec, err := r.getSecret(ctx, rc.Namespace, name)
	if err != nil {
		return nil, err
	}
	if sec != nil {
		if conflict := checkControlled(sec, resources.TLSSecret(rc, name, nil)); conflict != nil {
			return nil, conflict
		}
		ca, err := certs.ParseKeyPair(sec.Data[issuerCertKey], sec.Data[issuerKeyKey])
		if err != nil {
			return nil, fmt.Errorf("read the CA from Secret %s: %w", name, err)
		}
		return ca, nil
	}
	ca, err := certs.NewCA(rc.Namespace+"/"+rc.Name+" redkube CA", r.Clock.Now(), tlsRand)
	if err != nil {
		return nil, fmt.Errorf("issue the CA: %w", err)
	}
	obj := resources.TLSSecret(rc, name, map[string][]byte{issuerCertKey: ca.CertPEM, issuerKeyKey: ca.KeyPEM})
	if err := r.Client.Create(ctx, obj); err != nil {
		return nil, fmt.Errorf("create Secret %s: %w", name, err)
	}
	st.changed = append(st.changed, "Secret "+name)
	r.event(rc, corev1.EventTypeNormal, EventCertificateIssued, "IssueCertificate", "issued the cluster's CA, valid until %s", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	return ca, nil
}

// writeTLSSecrets writes <name>-tls (what the pods mount: the bundle, and
// ca.crt again under its fingerprinted name, see resources.TLSCABundleKey)
// and <name>-ca (ca.crt for clients) when their content differs from want.
func (r *Reconciler) writeTLSSecrets(ctx context.Context, st *state, live *corev1.Secret, want certs.Bundle) error {
	rc := st.rc
	server := map[string][]byte{
		redisv1alpha1.TLSCertKey: want.Cert, redisv1alpha1.TLSKeyKey: want.Key, redisv1alpha1.TLSCAKey: want.CA,
		resources.TLSCABundleKey(st.tls.caPrint): want.CA,
	}
	if err := r.writeSecret(ctx, st, live, resources.TLSSecret(rc, resources.TLSServerSecretName(rc), server)); err != nil {
		return err
	}
	caName := resources.TLSCASecretName(rc)
	caLive, err := r.getSecret(ctx, rc.Namespace, caName)
	if err != nil {
		return err
	}
	return r.writeSecret(ctx, st, caLive, resources.TLSSecret(rc, caName, map[string][]byte{redisv1alpha1.TLSCAKey: want.CA}))
}

// writeSecret creates desired, or updates live when its data differs. A
// Secret under that name that this cluster does not control stops the
// pass.
func (r *Reconciler) writeSecret(ctx context.Context, st *state, live, desired *corev1.Secret) error {
	if live == nil {
		if err := r.Client.Create(ctx, desired); err != nil {
			return fmt.Errorf("create Secret %s: %w", desired.Name, err)
		}
		st.changed = append(st.changed, "Secret "+desired.Name)
		return nil
	}
	if conflict := checkControlled(live, desired); conflict != nil {
		return conflict
	}
	if dataEqual(live.Data, desired.Data) {
		return nil
	}
	next := live.DeepCopy()
	next.Data = desired.Data
	if err := r.Client.Update(ctx, next); err != nil {
		return fmt.Errorf("update Secret %s: %w", desired.Name, err)
	}
	st.changed = append(st.changed, "Secret "+desired.Name)
	return nil
}

// clientTLSConfig is the operator's TLS configuration: it trusts the CAs
// of both the Secret the pods have now and the one they are given (a CA
// rollover), checks the chain but not the name (it dials pod IPs), sends
// the access Service's name as SNI, and presents the certificate the
// nodes currently trust (needed with spec.tls.authClients).
func clientTLSConfig(rc *redisv1alpha1.RedisCluster, domain string, live *corev1.Secret, want certs.Bundle) *tls.Config {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(want.CA)
	current := bundleOf(live)
	roots.AppendCertsFromPEM(current.CA)
	pair := want
	if len(current.Cert) > 0 {
		pair = current
	}
	var cert *tls.Certificate
	if c, err := tls.X509KeyPair(pair.Cert, pair.Key); err == nil {
		cert = &c
	}
	return redisadmin.VerifyChainOnly(roots, resources.TLSServerName(rc, domain), cert)
}

// event emits an event when the reconciler has a recorder.
func (r *Reconciler) event(rc *redisv1alpha1.RedisCluster, typ, reason, action, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, typ, reason, action, format, args...)
	}
}
