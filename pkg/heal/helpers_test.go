package heal_test

import (
	"testing"
	"unicode"

	"github.com/redkube/redkube/pkg/heal"
	"github.com/redkube/redkube/pkg/heal/healtest"
)

var threeHosts = []string{"node-1", "node-2", "node-3"}

// ruleCase is one behaviour of the rules: a world, the kind of change
// expected, and further checks of the decision.
type ruleCase struct {
	name string
	// world builds the situation.
	world func() *healtest.World
	// rule names the one rule of the default chain to ask; "" asks the
	// whole chain.
	rule string
	// kind is the expected change.
	kind heal.Kind
	// not makes kind the one change that must not be made.
	not bool
	// check inspects the decision further (optional).
	check func(t *testing.T, w *healtest.World, d heal.Decision)
}

// runCases runs each case as a subtest.
func runCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.world()
			var d heal.Decision
			if tt.rule == "" {
				d = decide(t, w)
			} else {
				d, _ = rule(t, tt.rule).Decide(w.Cluster())
				checkReason(t, d)
			}
			if tt.not && d.Kind == tt.kind {
				t.Fatalf("decision %s (%s; blocked: %s), want anything but %s", d.Kind, d.Message, d.Blocked, tt.kind)
			}
			if !tt.not && d.Kind != tt.kind {
				t.Fatalf("decision %s (%s; blocked: %s), want %s", d.Kind, d.Message, d.Blocked, tt.kind)
			}
			if tt.check != nil {
				tt.check(t, w, d)
			}
		})
	}
}

// decide runs the default chain on w and checks that a change carries a
// CamelCase reason and a message.
func decide(t *testing.T, w *healtest.World) heal.Decision {
	t.Helper()
	d := w.Decide()
	checkReason(t, d)
	return d
}

// checkReason fails t when a change lacks a CamelCase reason or a message.
func checkReason(t testing.TB, d heal.Decision) {
	t.Helper()
	if d.IsNone() {
		return
	}
	if !camelCase(d.Reason) {
		t.Errorf("%s decision has reason %q, want a CamelCase token", d.Kind, d.Reason)
	}
	if d.Message == "" {
		t.Errorf("%s decision (%s) has no message", d.Kind, d.Reason)
	}
}

// camelCase reports whether s is a non-empty CamelCase token: an upper-case
// letter, then letters and digits only.
func camelCase(s string) bool {
	for i, r := range s {
		if i == 0 && !unicode.IsUpper(r) {
			return false
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return s != ""
}

// rule returns the rule of the default chain named name.
func rule(t testing.TB, name string) heal.Rule {
	t.Helper()
	for _, r := range heal.DefaultChain() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %q in the default chain", name)
	return heal.Rule{}
}
