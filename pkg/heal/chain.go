package heal

import "strings"

// Rule looks at the cluster and returns the change it calls for, or a
// decision of kind None; blocked says why a change it wants cannot be made
// now ("" when nothing is blocked).
type Rule struct {
	// Name names the rule in logs and tests.
	Name string
	// Decide is the rule itself; it is pure.
	Decide func(*Cluster) (d Decision, blocked string)
}

// Chain is an ordered list of rules, most urgent first.
type Chain []Rule

// DefaultChain returns the rules in priority order: hand over a master
// being deleted, take over from a master that is gone, create the cluster
// (around the nodes started on a backup's shards in a same-layout restore),
// re-introduce nodes with new addresses, forget nodes that are gone, attach
// empty nodes as replicas, restart a stuck replica, repair slots, move
// slots after the spec's masters changed, remove drained groups, hand the
// master role off a member beyond replicasPerMaster, replace outdated
// members, move a replica off its master's host, spread masters
// over hosts. The operator and rcctl heal both run it; a rule whose inputs
// a caller does not have (probes, a declared spec, outdated members) finds
// nothing to do.
func DefaultChain() Chain {
	return Chain{
		{"graceful failover", gracefulFailover},
		{"forced failover", forcedFailover},
		{"announce", announce},
		{"bootstrap from shards", bootstrapFromShards},
		{"bootstrap", bootstrap},
		{"meet", meet},
		{"forget", forget},
		{"attach", attach},
		{"restart stuck replica", restartStuckReplica},
		{"repair", repair},
		{"reshard", reshard},
		{"remove shards", removeShards},
		{"surplus master", surplusMaster},
		{"rolling update", rollingUpdate},
		{"placement", placement},
		{"master spread", masterSpread},
	}
}

// Decide returns the first change a rule of the chain calls for, with the
// blocked reasons of the rules asked before it (and of all rules when none
// acts). A change without a budget gets StepBudget. Findings of rules that
// made no change (ReshardingDone) are carried into the result.
func (ch Chain) Decide(c *Cluster) Decision {
	var blocked []string
	done := false
	for _, r := range ch {
		d, why := r.Decide(c)
		if why != "" {
			blocked = append(blocked, why)
		}
		done = done || d.ReshardingDone
		if d.Kind != None {
			if d.Budget == 0 {
				d.Budget = StepBudget
			}
			d.Blocked = strings.Join(blocked, "; ")
			d.ReshardingDone = done
			return d
		}
	}
	return Decision{Blocked: strings.Join(blocked, "; "), ReshardingDone: done}
}
