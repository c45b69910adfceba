package heal

import (
	"fmt"
	"strings"

	"github.com/redkube/redkube/pkg/planner"
)

// announce makes every live member whose node announces another endpoint
// than the platform wants announce the wanted one (CONFIG SET
// cluster-announce-*, at once on all of them): an external endpoint that
// changed (a load balancer got its address, a pod moved to another node),
// external access or hostnames turned on or off. It comes right after the
// failovers: until a node announces the right endpoint, clients are sent
// where they cannot connect and its peers may reach it at a stale address.
// It needs no bootstrap: a new node starts announcing what the platform
// knew when it started, and this corrects it.
func announce(c *Cluster) (Decision, string) {
	var steps []planner.Step
	var names []string
	for i := range c.Members {
		m := &c.Members[i]
		if m.Announce == nil || !m.Live() {
			continue
		}
		if got := m.Self().Endpoint(); got != *m.Announce {
			steps = append(steps, planner.Announce{Node: m.ID(), Endpoint: *m.Announce})
			names = append(names, fmt.Sprintf("%s → %s", m.Name, m.Announce.ClientAddr()))
		}
	}
	if len(steps) == 0 {
		return Decision{}, ""
	}
	return Decision{
		Kind:    Announce,
		Reason:  ReasonAnnouncing,
		Message: fmt.Sprintf("announcing %s", strings.Join(names, ", ")),
		Plan:    planner.Plan{Steps: steps},
	}, ""
}
