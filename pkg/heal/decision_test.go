package heal_test

import (
	"testing"

	"github.com/redkube/redkube/pkg/heal"
)

func TestEveryKindHasAnEventReasonAndAName(t *testing.T) {
	kinds := heal.Kinds()
	if len(kinds) == 0 {
		t.Fatal("Kinds() is empty")
	}
	reasons, names := map[string]heal.Kind{}, map[string]heal.Kind{}
	for _, k := range kinds {
		if k == heal.None {
			t.Errorf("Kinds() lists None")
		}
		if r := k.EventReason(); !camelCase(r) {
			t.Errorf("kind %d (%s) has event reason %q, want a CamelCase token", k, k, r)
		} else if other, dup := reasons[r]; dup {
			t.Errorf("kinds %s and %s share the event reason %s", other, k, r)
		} else {
			reasons[r] = k
		}
		if s := k.String(); s == "" || s == "unknown" || s == heal.None.String() {
			t.Errorf("kind %d has name %q", k, s)
		} else if other, dup := names[s]; dup {
			t.Errorf("kinds %d and %d share the name %q", other, k, s)
		} else {
			names[s] = k
		}
	}
	if r := heal.None.EventReason(); r != "" {
		t.Errorf("None has event reason %q, want none", r)
	}
	if r := heal.Kind(len(kinds) + 1).EventReason(); r != "" {
		t.Errorf("a kind beyond the last has event reason %q, want none", r)
	}
}
