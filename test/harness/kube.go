package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// RedisPort is the client port of every Redis pod.
const RedisPort = "6379"

// ErrNotReady is wrapped by Ready's error when the RedisCluster was read
// but is not Ready.
var ErrNotReady = errors.New("not Ready")

// RedisCluster reads the RedisCluster namespace/name.
func (e *Env) RedisCluster(ctx context.Context, namespace, name string) (*redisv1alpha1.RedisCluster, error) {
	rc := &redisv1alpha1.RedisCluster{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, rc); err != nil {
		return nil, fmt.Errorf("get RedisCluster %s: %w", name, err)
	}
	return rc, nil
}

// Ready reads the RedisCluster and returns it when, as `kubectl wait
// --for=condition=Ready` sees it, its Ready condition is True for its
// current generation, and became True at or after since (to the second,
// the resolution of lastTransitionTime; so a Ready left over from before
// a disruption does not count). Otherwise the error wraps ErrNotReady and
// says why, or is the API's.
func (e *Env) Ready(ctx context.Context, namespace, name string, since time.Time) (*redisv1alpha1.RedisCluster, error) {
	rc, err := e.RedisCluster(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	c := meta.FindStatusCondition(rc.Status.Conditions, string(redisv1alpha1.ConditionReady))
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != rc.Generation {
		return nil, fmt.Errorf("%w: Ready is %+v", ErrNotReady, c)
	}
	if c.LastTransitionTime.Time.Before(since.Truncate(time.Second)) {
		return nil, fmt.Errorf("%w: Ready since %v, before %v", ErrNotReady, c.LastTransitionTime, since)
	}
	return rc, nil
}

// WaitReady polls Ready every 100 ms until it passes or d has gone by,
// and returns the RedisCluster.
func (e *Env) WaitReady(ctx context.Context, namespace, name string, since time.Time, d time.Duration) (*redisv1alpha1.RedisCluster, error) {
	var rc *redisv1alpha1.RedisCluster
	err := Wait(ctx, d, 100*time.Millisecond, "RedisCluster "+name+" Ready", func(ctx context.Context) error {
		var err error
		rc, err = e.Ready(ctx, namespace, name, since)
		return err
	})
	return rc, err
}

// LivePods lists the pods of namespace matching the label selector that
// are not being deleted, by name.
func (e *Env) LivePods(ctx context.Context, namespace, selector string) ([]corev1.Pod, error) {
	list, err := e.Clientset.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list pods %s: %w", selector, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// PodReady reports whether p is Ready with an IP and not being deleted.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.PodIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// RedisAddr is the Redis address of the pod (its IP, RedisPort); "" when
// it has no IP yet.
func RedisAddr(p *corev1.Pod) string {
	if p.Status.PodIP == "" {
		return ""
	}
	return net.JoinHostPort(p.Status.PodIP, RedisPort)
}

// DeletePod deletes a pod through the API, as `kubectl delete pod
// [--force --grace-period=0] --wait=false` sends it (so kubectl's own
// start-up is not timed).
func (e *Env) DeletePod(ctx context.Context, namespace, name string, force bool) error {
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = namespace, name
	var opts []client.DeleteOption
	if force {
		opts = append(opts, client.GracePeriodSeconds(0))
	}
	if err := e.Client.Delete(ctx, pod, opts...); err != nil {
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	return nil
}

// Cordon cordons (or, with on false, uncordons) every Kubernetes node, so
// that a deleted pod cannot come back until they are uncordoned.
func (e *Env) Cordon(ctx context.Context, on bool) error {
	verb := "uncordon"
	if on {
		verb = "cordon"
	}
	_, err := e.Kubectl(ctx, append([]string{verb}, e.Cluster.Nodes...)...)
	return err
}
