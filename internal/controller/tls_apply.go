package controller

// Getting the nodes to serve <name>-tls: the steps of a CA rollover, the
// live reload of each node's files, and the checks that every node serves
// the certificate and trusts the CA bundle.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/certs"
	"github.com/redkube/redkube/pkg/redisadmin"
)

// rolloverStep returns the bundle to give the nodes on the way from the
// live Secret to want (certs.NextBundle): want itself, unless the nodes
// could not verify each other while they reload one by one.
func (r *Reconciler) rolloverStep(st *state, live *corev1.Secret, want certs.Bundle) certs.Bundle {
	next := certs.NextBundle(bundleOf(live), want, appliedEverywhere(st.old.TLS, live), r.Clock.Now())
	st.tls.step, st.tls.waiting = next.Step, next.Waiting
	if !next.Waiting && next.Step != certs.StepWanted {
		r.event(st.rc, corev1.EventTypeNormal, EventCARolloverStep, "RolloverCA", "the certificate wanted is from a CA the nodes do not trust yet: %s", next.Step)
	}
	return next.Bundle
}

// appliedEverywhere reports whether status old records that every running
// node serves the certificate and trusts the CAs of the live Secret (a pod
// that starts later reads the live files).
func appliedEverywhere(old *redisv1alpha1.TLSStatus, live *corev1.Secret) bool {
	if old == nil {
		return false
	}
	b := bundleOf(live)
	leaf, err := certs.ParseCertificates(b.Cert)
	if err != nil {
		return false
	}
	ca, err := certs.BundleFingerprint(b.CA)
	return err == nil && certs.Fingerprint(leaf[0]) == old.CertificateFingerprint && ca == old.CAFingerprint
}

// applyTLS makes every node serve the current certificate and trust the
// current CA bundle. A node that presents another certificate, or whose
// tls-ca-cert-file is not the current bundle's fingerprinted file, is
// told to load its files again with the CA from that file: Redis refuses
// a path its kubelet has not written yet (the next pass tries again), so
// a node that took it holds the current bundle, and a CA rollover's first
// step (a new CA added to ca.crt, the certificate unchanged) reaches
// every node before any node presents a certificate of the new CA.
// Skipped once the status records that every node serves both.
func (r *Reconciler) applyTLS(ctx context.Context, st *state) error {
	t := st.tls
	if t == nil || !t.on || t.leaf == nil || st.pool == nil {
		return nil
	}
	want := certs.Fingerprint(t.leaf)
	if old := st.old.TLS; old != nil && old.CertificateFingerprint == want && old.CAFingerprint == t.caPrint {
		t.applied, t.verified = true, true
		return nil
	}
	files := redisadmin.TLSFiles{Cert: resources.TLSCertFile, Key: resources.TLSKeyFile, CA: resources.TLSCABundleFile(t.caPrint)}
	pods := runningPods(st)
	var reloaded []string
	for _, p := range pods {
		addr := podAddr(p)
		if r.servesTLS(ctx, st, addr, want, files.CA) {
			continue
		}
		if err := st.pool.Node(addr).ReloadTLS(ctx, files); err != nil {
			t.lagging = append(t.lagging, p.Name+" (its files are not refreshed yet: "+err.Error()+")")
			continue
		}
		if !r.servesTLS(ctx, st, addr, want, files.CA) {
			t.lagging = append(t.lagging, p.Name+" (still serves another certificate after a reload)")
			continue
		}
		reloaded = append(reloaded, p.Name)
	}
	if len(reloaded) > 0 {
		r.event(st.rc, corev1.EventTypeNormal, EventTLSReloaded, "ReloadTLS", "reloaded the TLS files of %s (certificate %s, CA bundle %s)",
			strings.Join(reloaded, ", "), want[:16], t.caPrint[:16])
	}
	// With no pod running nothing is known to have applied it: a bundle
	// on the way to another waits for the pods.
	t.applied = len(t.lagging) == 0 && len(pods) > 0
	total := int(st.rc.Spec.Masters * st.rc.Spec.PodsPerShard())
	if len(pods) < total && len(t.lagging) == 0 {
		t.lagging = append(t.lagging, fmt.Sprintf("%d of %d pods are not running", total-len(pods), total))
	}
	t.verified = len(t.lagging) == 0
	return nil
}

// servesTLS reports whether the node at addr presents the certificate
// whose fingerprint is cert and loaded its CAs from caFile.
func (r *Reconciler) servesTLS(ctx context.Context, st *state, addr, cert, caFile string) bool {
	got, err := redisadmin.ServedCertificate(ctx, addr, st.tls.config, r.Redis.DialTimeout*4)
	if err != nil || certs.Fingerprint(got) != cert {
		return false
	}
	file, err := st.pool.Node(addr).ConfigGet(ctx, "tls-ca-cert-file")
	return err == nil && file == caFile
}

// runningPods are the cluster's running pods with an IP, by name.
func runningPods(st *state) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range st.kube.pods {
		p := &st.kube.pods[i]
		if p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// podAddr is the pod's Redis address.
func podAddr(p *corev1.Pod) string {
	return fmt.Sprintf("%s:%d", p.Status.PodIP, resources.RedisPort)
}
