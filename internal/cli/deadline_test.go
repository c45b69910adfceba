package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/redkube/redkube/test/redisenv"
)

// deadlineSlack bounds how long an error may take with --timeout 1s. The
// point is bounded against the 30 s (a silent port) and 120 s (a stopped
// replica) go-redis's own read timeout and retries took; 15 s leaves room
// for a loaded CI machine running every package at once.
const deadlineSlack = 15

func TestSilentPortFailsWithinTimeout(t *testing.T) {
	addr := redisenv.SilentListener(t)
	for _, cmd := range []string{"check", "status", "fix", "rebalance"} {
		t.Run(cmd, func(t *testing.T) {
			start := time.Now()
			r := rcctl(t, cmd, addr, "--timeout", "1s")
			took := time.Since(start)
			oneLineErr(t, r, ExitFailure, addr+" accepted the connection but did not reply within 1s (--timeout)")
			if took > deadlineSlack*time.Second {
				t.Fatalf("rcctl %s on a silent port took %s with --timeout 1s", cmd, took)
			}
		})
	}
}

func TestStoppedReplicaIsNamedUnresponsiveWithinTimeout(t *testing.T) {
	nodes := newCluster(t, 6, 1)
	var replica *redisenv.Node
	for _, n := range nodes {
		if self(t, n.Addr).IsReplica() {
			replica = n
			break
		}
	}
	if replica == nil {
		t.Fatal("no replica in the cluster")
	}
	replica.Pause()
	start := time.Now()
	r := rcctl(t, "check", nodes[0].Addr, "--timeout", "1s")
	took := time.Since(start)
	if r.code != ExitFailure {
		t.Errorf("check with a stopped replica: exit %d, want %d", r.code, ExitFailure)
	}
	if !strings.Contains(r.stdout, replica.Addr) || !strings.Contains(r.stdout, "unresponsive") {
		t.Errorf("check does not name %s as unresponsive:\n%s", replica.Addr, r.stdout)
	}
	if strings.Contains(r.stdout, "ok:") {
		t.Errorf("check says ok with a stopped replica:\n%s", r.stdout)
	}
	if took > deadlineSlack*time.Second {
		t.Fatalf("check with a stopped replica took %s with --timeout 1s", took)
	}
	start = time.Now()
	st := rcctl(t, "status", nodes[0].Addr, "--timeout", "1s")
	if took := time.Since(start); took > deadlineSlack*time.Second {
		t.Fatalf("status with a stopped replica took %s with --timeout 1s", took)
	}
	if !strings.Contains(st.stdout, "unreachable: "+replica.Addr) || !strings.Contains(st.stdout, "cluster state: not ok") {
		t.Errorf("status does not report %s:\n%s", replica.Addr, st.stdout)
	}
}
