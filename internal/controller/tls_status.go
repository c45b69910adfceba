package controller

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/certs"
	"github.com/redkube/redkube/pkg/tlsswitch"
)

// tlsStatus sets status.tls and TLSReady on next from the pass's finding,
// emits the event of a transition, and sets the expiry gauge. It keeps
// both as they were when the pass did not get to TLS.
func (r *Reconciler) tlsStatus(st *state, next *redisv1alpha1.RedisClusterStatus) {
	t := st.tls
	rc := st.rc
	if t == nil {
		return
	}
	if t.sw.Render == tlsswitch.ModeOff && t.refused == "" && t.problem == "" {
		next.TLS = nil
		meta.RemoveStatusCondition(&next.Conditions, redisv1alpha1.ConditionTLSReady.String())
		tlsExpiryDays.DeleteLabelValues(rc.Namespace, rc.Name)
		return
	}
	now := r.Clock.Now()
	s := &redisv1alpha1.TLSStatus{Enabled: t.on}
	if old := st.old.TLS; old != nil {
		s.CertificateFingerprint = old.CertificateFingerprint
		s.CAFingerprint = old.CAFingerprint
	}
	if t.config != nil {
		s.CASecretName = resources.TLSCASecretName(rc)
	}
	if t.leaf != nil {
		s.NotAfter = &metav1.Time{Time: t.leaf.NotAfter.UTC().Truncate(time.Second)}
		tlsExpiryDays.WithLabelValues(rc.Namespace, rc.Name).Set(certs.DaysLeft(t.leaf.NotAfter, now))
		if t.applied {
			s.CertificateFingerprint = certs.Fingerprint(t.leaf)
			s.CAFingerprint = t.caPrint
		}
	}
	next.TLS = s
	ok, reason, msg := tlsCondition(t, now)
	cond := metav1.Condition{
		Type: redisv1alpha1.ConditionTLSReady.String(), Status: metav1.ConditionFalse, Reason: reason.String(), Message: msg,
		ObservedGeneration: rc.Generation, LastTransitionTime: metav1.NewTime(now),
	}
	if ok {
		cond.Status = metav1.ConditionTrue
	}
	prev := meta.FindStatusCondition(st.old.Conditions, cond.Type)
	meta.SetStatusCondition(&next.Conditions, cond)
	if prev == nil || prev.Reason != cond.Reason || (reason != redisv1alpha1.ReasonApplyingCertificate && prev.Message != cond.Message && !ok) {
		r.recordTLS(rc, reason, msg)
	}
}

// tlsCondition is TLSReady's value.
func tlsCondition(t *tlsState, now time.Time) (bool, redisv1alpha1.ConditionReason, string) {
	switch {
	case t.refused != "":
		return false, redisv1alpha1.ReasonTLSToggleRefused, t.refused
	case t.problem != "":
		return false, t.problem, t.message
	case t.sw.Phase != tlsswitch.PhaseNone && len(t.lagging) > 0:
		return false, redisv1alpha1.ReasonSwitchingToTLS, t.sw.Message + "; failed: " + strings.Join(t.lagging, ", ")
	case t.sw.Phase != tlsswitch.PhaseNone:
		return false, redisv1alpha1.ReasonSwitchingToTLS, t.sw.Message
	case t.leaf == nil:
		return false, redisv1alpha1.ReasonCertificateInvalid, "no usable certificate for the nodes yet"
	case (t.waiting || t.step != certs.StepWanted) && !t.verified:
		return false, redisv1alpha1.ReasonApplyingCertificate, pendingStep(t) + "; waiting for: " + strings.Join(t.lagging, ", ")
	case t.waiting || t.step != certs.StepWanted:
		return false, redisv1alpha1.ReasonApplyingCertificate, pendingStep(t) + ": applied on every node; the next step follows"
	case !t.verified:
		return false, redisv1alpha1.ReasonApplyingCertificate, "waiting for nodes to serve the current certificate and CA bundle: " + strings.Join(t.lagging, ", ")
	}
	return true, redisv1alpha1.ReasonCertificateApplied, fmt.Sprintf("every node serves certificate %s, valid until %s (%.0f days left), and trusts CA bundle %s",
		certs.Fingerprint(t.leaf)[:16], t.leaf.NotAfter.UTC().Format(time.RFC3339), certs.DaysLeft(t.leaf.NotAfter, now), t.caPrint[:16])
}

// pendingStep names what the nodes are given while the wanted bundle
// waits.
func pendingStep(t *tlsState) string {
	if t.step == certs.StepWanted {
		return "a certificate given before the wanted one"
	}
	return t.step.String()
}

// recordTLS emits the event of a TLSReady transition.
func (r *Reconciler) recordTLS(rc *redisv1alpha1.RedisCluster, reason redisv1alpha1.ConditionReason, msg string) {
	switch reason {
	case redisv1alpha1.ReasonCertificateApplied:
		r.event(rc, corev1.EventTypeNormal, EventCertificateApplied, "ApplyCertificate", "%s", msg)
	case redisv1alpha1.ReasonApplyingCertificate:
	case redisv1alpha1.ReasonSwitchingToTLS:
		r.event(rc, corev1.EventTypeNormal, EventSwitchingToTLS, "SwitchToTLS", "%s", msg)
	case redisv1alpha1.ReasonTLSToggleRefused:
		r.event(rc, corev1.EventTypeWarning, EventTLSToggleRefused, "Reconcile", "%s", msg)
	default:
		r.event(rc, corev1.EventTypeWarning, EventTLSSecretInvalid, "Reconcile", "%s: %s", reason, msg)
	}
}

// tlsPending reports whether some node still serves an older certificate,
// or a CA rollover has steps left.
func tlsPending(st *state) bool {
	if st.tls != nil && st.tls.sw.Render == tlsswitch.ModeFilesMounted {
		return true
	}
	return st.tls != nil && st.tls.on && st.tls.leaf != nil && (!st.tls.verified || st.tls.waiting || st.tls.step != certs.StepWanted) && st.pool != nil
}
