package controller

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/internal/resources"
	"github.com/redkube/redkube/pkg/topology"
)

// listExternal returns the cluster's per-pod external Services by name.
func (r *Reconciler) listExternal(ctx context.Context, rc *redisv1alpha1.RedisCluster) (map[string]*corev1.Service, error) {
	list := &corev1.ServiceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(rc.Namespace), client.MatchingLabelsSelector{Selector: resources.ClusterSelector(rc)}); err != nil {
		return nil, fmt.Errorf("list Services: %w", err)
	}
	out := map[string]*corev1.Service{}
	for i := range list.Items {
		if svc := &list.Items[i]; svc.Labels[resources.LabelExternal] != "" {
			out[svc.Name] = svc
		}
	}
	return out, nil
}

// applyAnnounce writes the announce ConfigMap from the external Services as
// this pass left them (written holds those it created or updated, with the
// node ports the API server chose), or deletes it when the pods announce
// their IP.
func (r *Reconciler) applyAnnounce(ctx context.Context, st *state, written map[string]*corev1.Service) error {
	rc := st.rc
	if !resources.AnnouncesAtStart(rc) {
		cm := &corev1.ConfigMap{}
		cm.Namespace, cm.Name = rc.Namespace, resources.AnnounceConfigMapName(rc)
		live, err := r.readLive(ctx, cm)
		if err != nil || live == nil || checkControlled(live, mustConfigMap(resources.AnnounceConfigMap(rc, nil))) != nil {
			return err
		}
		if err := r.Client.Delete(ctx, live); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ConfigMap %s: %w", cm.Name, err)
		}
		st.changed = append(st.changed, "ConfigMap "+cm.Name+" (deleted)")
		return nil
	}
	services, err := r.listExternal(ctx, rc)
	if err != nil {
		return err
	}
	for name, svc := range written {
		services[name] = svc
	}
	verified := map[string]bool{}
	if ea := st.old.ExternalAccess; ea != nil {
		for _, ep := range ea.Endpoints {
			verified[ep.Pod] = true
		}
	}
	cm, err := resources.AnnounceConfigMap(rc, resources.Announcements(rc, services, r.clusterDomain(), verified))
	if err != nil {
		return fmt.Errorf("render announce ConfigMap: %w", err)
	}
	live, err := r.readLive(ctx, cm)
	if err != nil {
		return err
	}
	if live != nil {
		if conflict := checkControlled(live, cm); conflict != nil {
			st.invalid, st.invalidReason = conflict.Error(), redisv1alpha1.ReasonNameConflict
			return nil
		}
	}
	changed, err := r.apply(ctx, cm, live)
	if changed {
		st.changed = append(st.changed, "ConfigMap "+cm.Name)
	}
	return err
}

// mustConfigMap drops the error of a builder that cannot fail on the input
// given (no lines).
func mustConfigMap(cm *corev1.ConfigMap, _ error) *corev1.ConfigMap { return cm }

// pruneExternal deletes the external Services no pod needs any more: all of
// them once spec.externalAccess is unset, those of removed shards, and
// those past the pods a shard keeps (replicasPerMaster lowered). A shard
// still being drained keeps its Services until its StatefulSet goes.
func (r *Reconciler) pruneExternal(ctx context.Context, st *state) error {
	rc := st.rc
	services, err := r.listExternal(ctx, rc)
	if err != nil {
		return err
	}
	keepShard := map[int]bool{}
	for _, s := range st.kube.retiringSets {
		keepShard[s] = true
	}
	for _, name := range sortedKeys(services) {
		svc := services[name]
		shard, ordinal, ok := resources.ParsePodName(rc, svc.Labels[resources.LabelExternal])
		wanted := ok && rc.Spec.ExternalAccess != nil && ordinal < int(rc.Spec.PodsPerShard()) &&
			(shard < int(rc.Spec.Masters) || keepShard[shard])
		if wanted {
			continue
		}
		if err := r.Client.Delete(ctx, svc, client.Preconditions{UID: &svc.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Service %s: %w", name, err)
		}
		st.changed = append(st.changed, "Service "+name+" (deleted)")
	}
	st.kube.external = services
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// endpointWish is the endpoint one pod's node should announce, and why it
// is not its external endpoint when that is not known or does not answer.
type endpointWish struct {
	// endpoint is nil only while the pod has no IP.
	endpoint *topology.Endpoint
	// fallback is set when endpoint is the pod's own address in place of
	// its external endpoint; reason and detail say why.
	fallback bool
	reason   redisv1alpha1.ConditionReason
	detail   string
}

// fallBack is the wish of a pod whose external endpoint is not usable: its
// pod address, so the cluster keeps serving in-cluster clients.
func fallBack(p *corev1.Pod, reason redisv1alpha1.ConditionReason, detail string) endpointWish {
	return endpointWish{
		endpoint: &topology.Endpoint{IP: p.Status.PodIP, Port: resources.RedisPort, BusPort: resources.BusPort},
		fallback: true, reason: reason, detail: detail,
	}
}

// wantedEndpoint is what pod p (shard, ordinal) should announce: its IP
// (and DNS name with spec.announce Hostname), or with external access its
// Service's load balancer address or node ports on its node (or the fixed
// address).
func wantedEndpoint(rc *redisv1alpha1.RedisCluster, p *corev1.Pod, shard, ordinal int, services map[string]*corev1.Service, clusterDomain string) endpointWish {
	if p.Status.PodIP == "" {
		return endpointWish{reason: redisv1alpha1.ReasonAnnouncePending, detail: p.Name + " has no IP yet"}
	}
	if rc.Spec.ExternalAccess == nil {
		e := topology.Endpoint{IP: p.Status.PodIP, Port: resources.RedisPort, BusPort: resources.BusPort}
		if rc.Spec.Announce == redisv1alpha1.AnnounceHostname {
			e.Hostname = resources.PodFQDN(rc, shard, ordinal, clusterDomain)
		}
		return endpointWish{endpoint: &e}
	}
	name := resources.ExternalServiceName(rc, shard, ordinal)
	a, ok := resources.ExternalAnnouncement(rc, services[name])
	if !ok {
		if rc.Spec.ExternalAccess.Type == redisv1alpha1.ExternalAccessLoadBalancer {
			return fallBack(p, redisv1alpha1.ReasonLoadBalancerPending, "Service "+name+" has no load balancer IP yet")
		}
		return fallBack(p, redisv1alpha1.ReasonAnnouncePending, "Service "+name+" has no node ports yet")
	}
	switch a.IP {
	case resources.AnnounceHostIP:
		if p.Status.HostIP == "" {
			return fallBack(p, redisv1alpha1.ReasonNodeAddressUnknown, p.Name+" has no node address yet")
		}
		a.IP = p.Status.HostIP
	case resources.AnnouncePodIP:
		a.IP = p.Status.PodIP
	}
	return endpointWish{endpoint: &topology.Endpoint{IP: a.IP, Port: a.Port, BusPort: a.BusPort, Hostname: a.Hostname}}
}

// externalStatus is status.externalAccess and the ExternalAccessReady
// condition's verdict: the external endpoints the nodes announce, and the
// first reason one does not (with the pods it concerns).
func externalStatus(st *state) (*redisv1alpha1.ExternalAccessStatus, bool, redisv1alpha1.ConditionReason, string) {
	status := &redisv1alpha1.ExternalAccessStatus{}
	var reason redisv1alpha1.ConditionReason
	var waiting []string
	for i := range st.obs.Members {
		m := &st.obs.Members[i]
		w := st.wishes[m.Name]
		switch {
		case w.endpoint == nil || w.fallback:
			reason = firstReason(reason, w.reason)
			waiting = append(waiting, w.detail)
			continue
		case m.Self() == nil || m.Self().Endpoint() != *w.endpoint:
			reason = firstReason(reason, redisv1alpha1.ReasonAnnouncePending)
			waiting = append(waiting, m.Name+" does not announce "+w.endpoint.ClientAddr()+" yet")
			continue
		}
		status.Endpoints = append(status.Endpoints, redisv1alpha1.NodeEndpoint{Pod: m.Name, Address: w.endpoint.ClientAddr()})
	}
	if want := int(st.rc.Spec.TotalNodes()); len(st.obs.Members) < want {
		reason = firstReason(reason, redisv1alpha1.ReasonAnnouncePending)
		waiting = append(waiting, strconv.Itoa(want-len(st.obs.Members))+" pods do not exist yet")
	}
	if len(waiting) == 0 {
		return status, true, redisv1alpha1.ReasonEndpointsAnnounced, fmt.Sprintf("%d nodes announce their external endpoints", len(status.Endpoints))
	}
	return status, false, reason, strings.Join(waiting, "; ")
}

func firstReason(have, next redisv1alpha1.ConditionReason) redisv1alpha1.ConditionReason {
	if have != "" {
		return have
	}
	return next
}

// endpointProbeTimeout bounds the connect to an external endpoint.
const endpointProbeTimeout = time.Second

// verifyEndpoints connects, from the operator, to the external endpoint of
// every node that does not announce it yet, client and bus port: a node
// announcing an endpoint nobody can connect to would send clients there,
// and its peers would lose it. A node whose endpoint does not answer is to
// announce its pod address instead (the cluster keeps serving in-cluster
// clients) and ExternalAccessReady names the endpoint. A node already
// announcing its endpoint is not probed.
func verifyEndpoints(ctx context.Context, st *state, dial func(ctx context.Context, addr string) error) {
	if st.rc.Spec.ExternalAccess == nil {
		return
	}
	type result struct {
		i   int
		err error
	}
	var probes []int
	for i := range st.obs.Members {
		m := &st.obs.Members[i]
		if w := st.wishes[m.Name]; w.endpoint == nil || w.fallback || m.Self() == nil || m.Self().Endpoint() == *w.endpoint {
			continue
		}
		probes = append(probes, i)
	}
	results := make(chan result, len(probes))
	for _, i := range probes {
		e := *st.obs.Members[i].Announce
		go func() {
			ctx, cancel := context.WithTimeout(ctx, endpointProbeTimeout)
			defer cancel()
			err := dial(ctx, e.Addr())
			if err == nil {
				err = dial(ctx, net.JoinHostPort(e.IP, strconv.Itoa(e.BusPort)))
			}
			results <- result{i, err}
		}()
	}
	for range probes {
		r := <-results
		if r.err == nil {
			continue
		}
		m := &st.obs.Members[r.i]
		p := podNamed(st.kube.pods, m.Name)
		w := fallBack(p, redisv1alpha1.ReasonEndpointUnreachable, fmt.Sprintf("%s: %v", m.Announce.ClientAddr(), r.err))
		st.wishes[m.Name] = w
		m.Announce = w.endpoint
	}
}

// dialTCP connects to addr and closes the connection.
func dialTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// podNamed returns the pod named name of pods (nil when none).
func podNamed(pods []corev1.Pod, name string) *corev1.Pod {
	for i := range pods {
		if pods[i].Name == name {
			return &pods[i]
		}
	}
	return nil
}
