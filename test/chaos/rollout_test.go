package chaos

import (
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/test/writeload"
)

// TestRollingUpdateUnderAWriter changes spec.config, then the image and
// the resources, each of which replaces every pod (replicas first, each
// master after a graceful handover), under a writer, and reports the planned operation's worst write gap and errors
// (issue 13's goal: no error, no gap over 200 ms). It asserts that no
// acknowledged write is lost.
func TestRollingUpdateUnderAWriter(t *testing.T) {
	e := startEnv(t)
	const name = "chaos-roll"
	e.create(t, name, 3)
	for _, change := range []struct {
		what string
		edit func(*redisv1alpha1.RedisCluster)
	}{
		{"config change", func(rc *redisv1alpha1.RedisCluster) {
			rc.Spec.Config = maps.Clone(rc.Spec.Config)
			if rc.Spec.Config == nil {
				rc.Spec.Config = map[string]redisv1alpha1.ConfigValue{}
			}
			rc.Spec.Config["slowlog-log-slower-than"] = "20000"
		}},
		// The local Kubernetes runs the redis-server binary whatever the
		// tag; the new tag and requests change the pod template all the same.
		{"image and resources change", func(rc *redisv1alpha1.RedisCluster) {
			rc.Spec.Image = "redis:7.0.15"
			rc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
		}},
	} {
		prefix := "roll-" + strings.ReplaceAll(change.what, " ", "-")
		w := writeload.Start(t.Context(), e.addrs(t, name), prefix)
		time.Sleep(time.Second)
		at := e.change(t, name, change.edit)
		if _, err := e.WaitReady(t.Context(), ns, name, at, 5*time.Minute); err != nil {
			t.Fatalf("not Ready after the %s: %v", change.what, err)
		}
		took := time.Since(at)
		time.Sleep(500 * time.Millisecond)
		res := e.verify(t, name, w, prefix, 0)
		t.Logf("matrix: rolling update of 6 pods (%s) | worst gap %v at +%v | %d write errors of %d (first: %v) | Ready after %v",
			change.what, res.WorstGap.Round(time.Millisecond), res.GapStart.Sub(at).Round(100*time.Millisecond), res.Errors, len(res.Acked)+res.Errors, res.FirstErr, took.Round(100*time.Millisecond))
	}
}
