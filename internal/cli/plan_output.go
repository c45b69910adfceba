package cli

import (
	"fmt"
	"reflect"

	"github.com/redkube/redkube/pkg/planner"
)

// planJSON is the JSON form of a plan.
type planJSON struct {
	DryRun bool       `json:"dryRun"`
	Steps  []stepJSON `json:"steps"`
	Notes  []string   `json:"notes,omitempty"`
}

type stepJSON struct {
	// Type is the step's Go type name, e.g. "MigrateSlots".
	Type string `json:"type"`
	// Description is the step's human description.
	Description string `json:"description"`
	// Step carries the step's fields.
	Step planner.Step `json:"step"`
}

func toPlanJSON(p planner.Plan, dryRun bool) planJSON {
	out := planJSON{DryRun: dryRun, Steps: []stepJSON{}, Notes: p.Notes}
	for _, s := range p.Steps {
		out.Steps = append(out.Steps, stepJSON{Type: reflect.TypeOf(s).Name(), Description: s.String(), Step: s})
	}
	return out
}

// showPlan prints the plan: as JSON under --json, as numbered lines
// otherwise. addrs maps node IDs to addresses for a legend.
func (a *app) showPlan(title string, p planner.Plan) error {
	if a.g.json {
		return a.printJSON(toPlanJSON(p, a.g.dryRun))
	}
	if p.Empty() {
		_, err := fmt.Fprintf(a.stdout, "%s: nothing to do\n", title)
		return err
	}
	if _, err := fmt.Fprintf(a.stdout, "%s: %d step(s)\n%s", title, len(p.Steps), p.String()); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}
