package tlsswitch

import (
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"testing"
)

func TestNextTakesAPlainClusterToTLSInThreeObservedSteps(t *testing.T) {
	three := func(a, b, c bool) map[string]bool { return map[string]bool{"p-0": a, "p-1": b, "p-2": c} }
	for _, tc := range []struct {
		name   string
		o      Observation
		render Mode
		sw     []string
		phase  Phase
	}{
		{"a new cluster with TLS is created with it", Observation{Want: true}, ModeOn, nil, PhaseNone},
		{"a new cluster without TLS is created without it", Observation{}, ModeOff, nil, PhaseNone},
		{"TLS asked for a plain cluster: mount the files first", Observation{Want: true, Templates: ModeOff, PodsCurrent: true}, ModeFilesMounted, nil, PhaseMountingFiles},
		{"pods still rolling to the files: wait", Observation{Want: true, Templates: ModeFilesMounted, Nodes: three(false, false, false)}, ModeFilesMounted, nil, PhaseMountingFiles},
		{"every pod has the files: switch every plain node", Observation{Want: true, Templates: ModeFilesMounted, PodsCurrent: true, Nodes: three(false, true, false)}, ModeFilesMounted, []string{"p-0", "p-2"}, PhaseSwitching},
		{"every node serves TLS: roll to the TLS template", Observation{Want: true, Templates: ModeFilesMounted, PodsCurrent: true, Nodes: three(true, true, true)}, ModeOn, nil, PhaseRollingToTLS},
		{"no running node known: switch nothing, wait", Observation{Want: true, Templates: ModeFilesMounted, PodsCurrent: true}, ModeFilesMounted, nil, PhaseSwitching},
		{"a TLS cluster stays TLS", Observation{Want: true, Templates: ModeOn}, ModeOn, nil, PhaseNone},
		{"turning TLS off is refused", Observation{Templates: ModeOn, PodsCurrent: true}, ModeOn, nil, PhaseRefused},
		{"reverted before any node switched: back to plain text", Observation{Templates: ModeFilesMounted, PodsCurrent: true, Nodes: three(false, false, false)}, ModeOff, nil, PhaseNone},
		{"reverted after a node switched: the switch goes on", Observation{Templates: ModeFilesMounted, PodsCurrent: true, Nodes: three(true, false, false)}, ModeFilesMounted, []string{"p-1", "p-2"}, PhaseSwitching},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Next(tc.o)
			if s.Render != tc.render || !reflect.DeepEqual(s.Switch, tc.sw) || s.Phase != tc.phase {
				t.Fatalf("Next = render %q, switch %v, phase %q; want %q, %v, %q (%s)", s.Render, s.Switch, s.Phase, tc.render, tc.sw, tc.phase, s.Message)
			}
			if (s.Phase == PhaseNone) != (s.Message == "") {
				t.Fatalf("phase %q with message %q", s.Phase, s.Message)
			}
		})
	}
}

// TestNextNeverSplitsTheBus checks every observation of a three-node
// cluster: pods are never restarted into plain text while a node serves
// TLS, nor into TLS while a node serves plain text, and only plain nodes
// of pods that all run the files template are switched.
func TestNextNeverSplitsTheBus(t *testing.T) {
	for _, o := range allObservations(3) {
		s := Next(o)
		name := fmt.Sprintf("%+v", o)
		anyTLS, anyPlain := len(nodesServing(o.Nodes, true)) > 0, len(nodesServing(o.Nodes, false)) > 0
		if o.Templates == ModeFilesMounted && s.Render == ModeOn && (anyPlain || !o.PodsCurrent) {
			t.Errorf("%s: rolls to TLS while a node serves plain text or a pod is not current", name)
		}
		if o.Templates == ModeFilesMounted && s.Render == ModeOff && anyTLS {
			t.Errorf("%s: rolls to plain text while a node serves TLS", name)
		}
		if o.Templates == ModeOn && s.Render != ModeOn {
			t.Errorf("%s: leaves the TLS template (%q)", name, s.Render)
		}
		if o.Templates == ModeOff && s.Render == ModeOn {
			t.Errorf("%s: rolls plain pods straight to TLS", name)
		}
		if len(s.Switch) > 0 && (o.Templates != ModeFilesMounted || !o.PodsCurrent) {
			t.Errorf("%s: switches nodes whose pods may lack the files", name)
		}
		for _, n := range s.Switch {
			if o.Nodes[n] {
				t.Errorf("%s: switches %s, which serves TLS already", name, n)
			}
		}
	}
}

// TestNextReachesTLSWhateverTheCrashes runs the switch against a simulated
// cluster in which each pass may stop after any number of its node
// switches (a crash) and a roll takes several passes: it ends on the TLS
// template with every node on TLS, and the bus never splits on the way.
func TestNextReachesTLSWhateverTheCrashes(t *testing.T) {
	for seed := range uint64(200) {
		rng := mrand.New(mrand.NewPCG(seed, 7))
		w := world{templates: ModeOff, current: true, nodes: map[string]bool{"p-0": false, "p-1": false, "p-2": false}}
		for pass := 0; ; pass++ {
			if pass > 100 {
				t.Fatalf("seed %d: not on TLS after 100 passes: %+v", seed, w)
			}
			s := Next(Observation{Want: true, Templates: w.templates, PodsCurrent: w.current, Nodes: w.nodes})
			w.apply(s, rng)
			if err := w.check(); err != nil {
				t.Fatalf("seed %d pass %d: %v", seed, pass, err)
			}
			if w.templates == ModeOn && w.current {
				break
			}
		}
		for n, on := range w.nodes {
			if !on {
				t.Fatalf("seed %d: %s ends in plain text", seed, n)
			}
		}
	}
}

// world is a simulated cluster: a template mode, whether the roll to it
// finished, and what each node serves (a restarted node serves what its
// template says).
type world struct {
	templates Mode
	current   bool
	nodes     map[string]bool
}

func (w *world) apply(s Step, rng *mrand.Rand) {
	if s.Render != w.templates {
		w.templates, w.current = s.Render, false
	}
	crashAt := rng.IntN(len(s.Switch) + 1)
	for i, n := range s.Switch {
		if i == crashAt {
			break
		}
		w.nodes[n] = true
	}
	if !w.current && rng.IntN(3) == 0 {
		// The roll finished: each pod restarted into the template.
		w.current = true
		for n := range w.nodes {
			switch w.templates {
			case ModeOn:
				w.nodes[n] = true
			case ModeOff:
				w.nodes[n] = false
			}
		}
	}
}

// check fails when a pod would restart into a mode other nodes cannot
// talk to.
func (w *world) check() error {
	tls, plain := len(nodesServing(w.nodes, true)), len(nodesServing(w.nodes, false))
	if w.templates == ModeOn && plain > 0 && !w.current {
		return fmt.Errorf("rolling to TLS with %d nodes in plain text", plain)
	}
	if w.templates == ModeOff && tls > 0 {
		return fmt.Errorf("rolling to plain text with %d nodes on TLS", tls)
	}
	return nil
}

// allObservations enumerates every observation of n nodes.
func allObservations(n int) []Observation {
	var out []Observation
	for _, want := range []bool{false, true} {
		for _, m := range []Mode{ModeNone, ModeOff, ModeFilesMounted, ModeOn} {
			for _, cur := range []bool{false, true} {
				for mask := range 1 << n {
					nodes := map[string]bool{}
					for i := range n {
						nodes[fmt.Sprintf("p-%d", i)] = mask&(1<<i) != 0
					}
					out = append(out, Observation{Want: want, Templates: m, PodsCurrent: cur, Nodes: nodes})
				}
			}
		}
	}
	return out
}
