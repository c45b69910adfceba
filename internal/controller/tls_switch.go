package controller

// Turning TLS on for a running cluster (pkg/tlsswitch): what the rule
// needs observed, and the live switch of the nodes.

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/redisadmin"
	"github.com/redkube/redkube/pkg/tlsswitch"
)

// Event reasons of turning TLS on for a running cluster.
const (
	// EventSwitchingToTLS: the switch reached a new step (the note names it).
	EventSwitchingToTLS = "SwitchingToTLS"
	// EventTLSSwitched: nodes were switched from plain text to TLS live.
	EventTLSSwitched = "TLSSwitched"
)

// modeOrder ranks the template modes on the way to TLS.
var modeOrder = map[tlsswitch.Mode]int{tlsswitch.ModeOff: 0, tlsswitch.ModeFilesMounted: 1, tlsswitch.ModeOn: 2}

// templateMode is the TLS mode a StatefulSet's pod template was rendered
// in.
func templateMode(s *appsv1.StatefulSet) tlsswitch.Mode {
	for _, v := range s.Spec.Template.Spec.Volumes {
		if v.Name != resources.TLSVolumeName {
			continue
		}
		if s.Spec.Template.Annotations[resources.AnnotationTLSSwitch] == resources.TLSSwitchFilesMounted {
			return tlsswitch.ModeFilesMounted
		}
		return tlsswitch.ModeOn
	}
	return tlsswitch.ModeOff
}

// observeTLSSwitch reads what tlsswitch.Next needs: the mode of the
// shards' templates (the earliest on the way to TLS) and, while they
// mount the files for a switch, whether every pod runs its template and
// is ready, and what each running node serves.
func (r *Reconciler) observeTLSSwitch(ctx context.Context, st *state) (tlsswitch.Observation, error) {
	rc := st.rc
	o := tlsswitch.Observation{Want: rc.Spec.TLSEnabled()}
	sets := &appsv1.StatefulSetList{}
	if err := r.Client.List(ctx, sets, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return o, fmt.Errorf("list StatefulSets: %w", err)
	}
	current := map[string]*appsv1.StatefulSet{}
	for i := range sets.Items {
		s := &sets.Items[i]
		shard, ok := resources.ShardOf(s.Labels)
		if !ok || s.Name != resources.ShardName(rc, shard) || shard >= int(rc.Spec.Masters) {
			continue
		}
		if m := templateMode(s); o.Templates == tlsswitch.ModeNone || modeOrder[m] < modeOrder[o.Templates] {
			o.Templates = m
		}
		current[s.Name] = s
	}
	if o.Templates != tlsswitch.ModeFilesMounted {
		return o, nil
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return o, fmt.Errorf("list pods: %w", err)
	}
	o.PodsCurrent = podsRunTemplates(current, pods.Items) && len(current) == int(rc.Spec.Masters)
	o.Nodes = map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		plain, err := redisadmin.ServesPlainText(ctx, podAddr(p), r.Redis.DialTimeout*4)
		if err != nil {
			// Not known: no switch until every node answers.
			o.PodsCurrent = false
			continue
		}
		o.Nodes[p.Name] = !plain
	}
	return o, nil
}

// podsRunTemplates reports whether every StatefulSet has all its pods,
// each ready and on the StatefulSet's current template.
func podsRunTemplates(sets map[string]*appsv1.StatefulSet, pods []corev1.Pod) bool {
	have := map[string]int32{}
	for i := range pods {
		p := &pods[i]
		owner := metaControllerOf(p)
		s, ok := sets[owner]
		if !ok {
			continue
		}
		if s.Status.ObservedGeneration != s.Generation || s.Status.UpdateRevision == "" ||
			p.Labels[appsv1.ControllerRevisionHashLabelKey] != s.Status.UpdateRevision || !podReady(p) {
			return false
		}
		have[owner]++
	}
	for name, s := range sets {
		if s.Spec.Replicas == nil || have[name] < *s.Spec.Replicas {
			return false
		}
	}
	return true
}

// metaControllerOf is the name of the StatefulSet controlling p ("" when
// none).
func metaControllerOf(p *corev1.Pod) string {
	for _, ref := range p.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.Kind == "StatefulSet" {
			return ref.Name
		}
	}
	return ""
}

// switchNodes switches the nodes the rule named to TLS live, over the
// pass's connections (opened in plain text, they outlive the node's
// plain-text listener), all in this pass so that the nodes differ for as
// short a time as possible. A node that fails is named in the condition
// and switched by a later pass.
func (r *Reconciler) switchNodes(ctx context.Context, st *state) error {
	t := st.tls
	if t == nil || len(t.sw.Switch) == 0 || st.pool == nil {
		return nil
	}
	auth := "no"
	if st.rc.Spec.TLS != nil && st.rc.Spec.TLS.AuthClients {
		auth = "yes"
	}
	sw := redisadmin.TLSSwitch{
		Files:       redisadmin.TLSFiles{Cert: resources.TLSCertFile, Key: resources.TLSKeyFile, CA: resources.TLSCABundleFile(t.caPrint)},
		AuthClients: auth,
		Port:        resources.RedisPort,
	}
	byName := map[string]*corev1.Pod{}
	for _, p := range runningPods(st) {
		byName[p.Name] = p
	}
	var done, failed []string
	for _, name := range t.sw.Switch {
		p, ok := byName[name]
		if !ok {
			failed = append(failed, name+" (not running)")
			continue
		}
		if err := st.pool.Node(podAddr(p)).SwitchToTLS(ctx, sw); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", name, err))
			continue
		}
		done = append(done, name)
	}
	if len(done) > 0 {
		st.changed = append(st.changed, "TLS of "+strings.Join(done, ", "))
		r.event(st.rc, corev1.EventTypeNormal, EventTLSSwitched, "SwitchToTLS", "switched %s from plain text to TLS live (clients, cluster bus and replication)", strings.Join(done, ", "))
	}
	t.lagging = append(t.lagging, failed...)
	return nil
}

// renderFor is rc as the pass renders it in mode: spec.tls.enabled set
// to what the mode serves (a copy when that differs from the spec).
func renderFor(rc *redisv1alpha1.RedisCluster, mode tlsswitch.Mode) *redisv1alpha1.RedisCluster {
	on := mode == tlsswitch.ModeOn
	if rc.Spec.TLSEnabled() == on {
		return rc
	}
	out := rc.DeepCopy()
	if out.Spec.TLS == nil {
		out.Spec.TLS = &redisv1alpha1.TLSSpec{}
	}
	out.Spec.TLS.Enabled = on
	return out
}
