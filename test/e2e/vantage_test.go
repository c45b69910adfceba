package e2e

import "testing"

// outsideVantage is a network namespace standing for a client outside the
// cluster: its only routes lead to the nodes' addresses and the load
// balancer pool, never to the pod network (harness.Env.Outside).
func outsideVantage(t *testing.T, e *opEnv) vantage {
	t.Helper()
	ns, err := e.h.Outside()
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
