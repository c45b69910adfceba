package heal_test

import (
	"testing"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
)

func TestChain(t *testing.T) {
	runCases(t, []ruleCase{
		{
			name:  "does nothing on a healthy cluster",
			world: func() *healtest.World { return healtest.Healthy(3, 1, threeHosts...) },
			kind:  heal.None,
		},
		{
			name: "hands over before it meets (one change per pass, most urgent first)",
			world: func() *healtest.World {
				w := healtest.Healthy(3, 1, threeHosts...)
				w.Pod("rc-1-0").Terminating = true
				p := w.Pod("rc-2-1")
				p.Addr = "10.0.9.9:6379"
				p.KnownAt = map[int]string{0: "10.0.2.11:6379"}
				return w
			},
			kind: heal.Failover,
		},
	})
}
