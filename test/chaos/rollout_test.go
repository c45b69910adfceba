package chaos

import (
	"maps"
	"testing"
	"time"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/test/writeload"
)

// TestRollingUpdateUnderAWriter changes spec.config, which replaces every
// pod (replicas first, each master after a graceful handover), under a
// writer, and reports the planned operation's worst write gap and errors
// (issue 13's goal: no error, no gap over 200 ms). It asserts that no
// acknowledged write is lost.
func TestRollingUpdateUnderAWriter(t *testing.T) {
	e := startEnv(t)
	const name = "chaos-roll"
	e.create(t, name, 3)
	const prefix = "roll"
	w := writeload.Start(t.Context(), e.addrs(t, name), prefix)
	time.Sleep(time.Second)
	at := e.change(t, name, func(rc *redisv1alpha1.RedisCluster) {
		rc.Spec.Config = maps.Clone(rc.Spec.Config)
		if rc.Spec.Config == nil {
			rc.Spec.Config = map[string]redisv1alpha1.ConfigValue{}
		}
		rc.Spec.Config["slowlog-log-slower-than"] = "20000"
	})
	if _, err := e.WaitReady(t.Context(), ns, name, at, 5*time.Minute); err != nil {
		t.Fatalf("not Ready after the config change: %v", err)
	}
	took := time.Since(at)
	time.Sleep(500 * time.Millisecond)
	res := e.verify(t, name, w, prefix, 0)
	t.Logf("matrix: rolling update of 6 pods (config change) | worst gap %v at +%v | %d write errors of %d (first: %v) | Ready after %v",
		res.WorstGap.Round(time.Millisecond), res.GapStart.Sub(at).Round(100*time.Millisecond), res.Errors, len(res.Acked)+res.Errors, res.FirstErr, took.Round(100*time.Millisecond))
}
