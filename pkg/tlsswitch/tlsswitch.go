// Package tlsswitch decides how a running Redis Cluster is taken from
// plain text to TLS without a moment in which its nodes cannot talk to
// each other.
//
// The cluster bus cannot mix: a node whose configuration says
// tls-cluster yes opens and accepts bus links only over TLS, so pods
// restarted one by one into a TLS configuration would split the cluster.
// Redis 7 can switch a node live instead (CONFIG SET of the TLS files,
// tls-cluster, tls-replication, then port 0 and tls-port on the same
// number): links already open keep working, new ones are TLS. The switch
// therefore goes in three steps, each observed before the next:
//
//  1. ModeFilesMounted: the pods are rolled (replicas first, graceful
//     handovers, like any template change) to a template that mounts the
//     TLS Secret while redis.conf is still plain text, with hooks and the
//     exporter that work with either;
//  2. once every pod runs that template, every node that still serves
//     plain text is switched live, all of them in one pass;
//  3. once every node serves TLS, ModeOn: the pods are rolled to the TLS
//     template, so each restarts with a TLS redis.conf and every link of
//     the bus and of replication is made again over TLS.
//
// A crash between any two steps is recovered from what is observed: the
// StatefulSets' templates, whether every pod runs the current one, and
// what each node serves. Next is pure and holds the whole rule.
package tlsswitch

import (
	"fmt"
	"sort"
	"strings"
)

// Mode is how the pods' template is rendered with respect to TLS.
type Mode string

const (
	// ModeNone: no StatefulSet exists yet.
	ModeNone Mode = ""
	// ModeOff: plain text, no TLS files mounted.
	ModeOff Mode = "Off"
	// ModeFilesMounted: plain-text redis.conf with the TLS Secret mounted,
	// and a preStop hook and an exporter that speak to either: the pods
	// a live switch to TLS needs.
	ModeFilesMounted Mode = "FilesMounted"
	// ModeOn: TLS for clients, the cluster bus and replication.
	ModeOn Mode = "On"
)

// Phase names where a switch stands, for the TLSReady condition.
type Phase string

const (
	// PhaseNone: no switch under way.
	PhaseNone Phase = ""
	// PhaseMountingFiles: the pods are being rolled to ModeFilesMounted.
	PhaseMountingFiles Phase = "MountingFiles"
	// PhaseSwitching: nodes are switched to TLS live in this pass.
	PhaseSwitching Phase = "SwitchingNodes"
	// PhaseRollingToTLS: every node serves TLS; the pods are being rolled
	// to the TLS template.
	PhaseRollingToTLS Phase = "RollingToTLS"
	// PhaseRefused: the change asked for is not supported (turning TLS
	// off once any node serves it).
	PhaseRefused Phase = "Refused"
)

// Observation is what the rule needs to know.
type Observation struct {
	// Want is spec.tls.enabled.
	Want bool
	// Templates is the mode of the StatefulSets' pod templates: the
	// earliest of them on the way Off → FilesMounted → On (ModeNone when
	// none exists).
	Templates Mode
	// PodsCurrent is set when every pod the spec asks for exists, runs
	// the current template and is ready.
	PodsCurrent bool
	// Nodes maps each running pod's name to whether its node serves TLS
	// on the client port. Read only while Templates is ModeFilesMounted.
	Nodes map[string]bool
}

// Step is Next's answer.
type Step struct {
	// Render is the mode to render the pods' template in this pass.
	Render Mode
	// Switch names the nodes to switch to TLS live in this pass (sorted).
	Switch []string
	// Phase and Message say where the switch stands (PhaseNone, "": no
	// switch under way).
	Phase   Phase
	Message string
}

// Next decides the pass's step.
func Next(o Observation) Step {
	switch {
	case o.Templates == ModeNone:
		// A new cluster is created in the mode asked for.
		if o.Want {
			return Step{Render: ModeOn}
		}
		return Step{Render: ModeOff}
	case o.Want && o.Templates == ModeOff:
		return Step{Render: ModeFilesMounted, Phase: PhaseMountingFiles,
			Message: "turning TLS on, step 1 of 3: rolling the pods to a template that mounts the TLS Secret (plain text still served)"}
	case o.Want && o.Templates == ModeFilesMounted:
		return towardsOn(o)
	case !o.Want && o.Templates == ModeFilesMounted:
		return back(o)
	case !o.Want && o.Templates == ModeOn:
		return Step{Render: ModeOn, Phase: PhaseRefused,
			Message: "spec.tls.enabled: TLS cannot be turned off for a running cluster (only turning it on is supported); the cluster keeps serving TLS: restore spec.tls.enabled, or create a new cluster and move the data"}
	}
	return Step{Render: o.Templates}
}

// towardsOn is the step of a cluster on the FilesMounted template that is
// to serve TLS.
func towardsOn(o Observation) Step {
	if !o.PodsCurrent {
		return Step{Render: ModeFilesMounted, Phase: PhaseMountingFiles,
			Message: "turning TLS on, step 1 of 3: rolling the pods to a template that mounts the TLS Secret (plain text still served)"}
	}
	plain := nodesServing(o.Nodes, false)
	if len(plain) > 0 || len(o.Nodes) == 0 {
		return Step{Render: ModeFilesMounted, Switch: plain, Phase: PhaseSwitching,
			Message: fmt.Sprintf("turning TLS on, step 2 of 3: switching %d of %d nodes to TLS live (%s)", len(plain), len(o.Nodes), strings.Join(plain, ", "))}
	}
	return Step{Render: ModeOn, Phase: PhaseRollingToTLS,
		Message: "turning TLS on, step 3 of 3: every node serves TLS; rolling the pods to the TLS template so that every bus and replication link is made again over TLS"}
}

// back is the step of a cluster on the FilesMounted template whose spec
// no longer asks for TLS: back to plain text while no node serves TLS,
// on towards TLS once one does (a node cannot be switched back).
func back(o Observation) Step {
	if tls := nodesServing(o.Nodes, true); len(tls) > 0 {
		s := towardsOn(o)
		s.Message = fmt.Sprintf("spec.tls.enabled: %d nodes serve TLS already (%s) and cannot go back to plain text; the switch to TLS continues: %s",
			len(tls), strings.Join(tls, ", "), s.Message)
		return s
	}
	return Step{Render: ModeOff}
}

// nodesServing returns the sorted names of the nodes whose TLS state is tls.
func nodesServing(nodes map[string]bool, tls bool) []string {
	var out []string
	for name, on := range nodes {
		if on == tls {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
