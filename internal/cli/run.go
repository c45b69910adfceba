package cli

import (
	"github.com/redkube/redkube/pkg/executor"
)

// execOptions builds executor options from the global flags; rep, when not
// nil, receives the executor's progress.
func (a *app) execOptions(rep reporter) executor.Options {
	o := executor.Options{Logger: a.log}
	if rep != nil {
		o.Progress = func(p executor.Progress) {
			rep.Update(progressState{SlotsDone: p.SlotsDone, SlotsTotal: p.SlotsTotal, Keys: p.KeysMoved})
		}
	}
	return o
}
