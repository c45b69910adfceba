package topology

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSlotSetBasics(t *testing.T) {
	var s SlotSet
	if !s.IsEmpty() || s.Count() != 0 || s.First() != -1 || s.String() != "" {
		t.Fatalf("zero SlotSet is not empty: %q", s)
	}
	s.Add(0)
	s.AddRange(5, 7)
	s.Add(SlotCount - 1)
	if got, want := s.String(), "0,5-7,16383"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := s.Count(); got != 5 {
		t.Errorf("Count() = %d, want 5", got)
	}
	if !s.Has(6) || s.Has(4) || s.Has(-1) || s.Has(SlotCount) {
		t.Errorf("Has is wrong for %s", s)
	}
	s.Remove(6)
	if got, want := s.Ranges(), []SlotRange{{0, 0}, {5, 5}, {7, 7}, {16383, 16383}}; !slices.Equal(got, want) {
		t.Errorf("Ranges() = %v, want %v", got, want)
	}
	if got := s.First(); got != 0 {
		t.Errorf("First() = %d, want 0", got)
	}
	if !AllSlots().IsFull() || AllSlots().Count() != SlotCount || AllSlots().String() != "0-16383" {
		t.Errorf("AllSlots() = %s", AllSlots())
	}
	if got := RangeSet(10, 20).TakeLowest(3).String(); got != "10-12" {
		t.Errorf("TakeLowest(3) = %q", got)
	}
	if got := RangeSet(10, 20).TakeHighest(3).String(); got != "18-20" {
		t.Errorf("TakeHighest(3) = %q", got)
	}
	if got := NewSlotSet(1, 2).TakeHighest(5).String(); got != "1-2" {
		t.Errorf("TakeHighest beyond size = %q", got)
	}
}

func TestSlotSetPanicsOnInvalidSlot(t *testing.T) {
	for _, slot := range []int{-1, SlotCount} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Add(%d) did not panic", slot)
				}
			}()
			var s SlotSet
			s.Add(slot)
		}()
	}
}

func TestParseSlotSet(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "", want: ""},
		{in: "0-5460", want: "0-5460"},
		{in: "0-99 101-5460", want: "0-99,101-5460"},
		{in: "5,3,4", want: "3-5"},
		{in: "0-10,5-20", want: "0-20"},
		{in: "16383", want: "16383"},
		{in: "16384", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "10-5", wantErr: true},
		{in: "a", wantErr: true},
		{in: "1-", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseSlotSet(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseSlotSet(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && got.String() != tt.want {
			t.Errorf("ParseSlotSet(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSlotSetJSON(t *testing.T) {
	in := struct{ Slots SlotSet }{RangeSet(0, 99).Union(NewSlotSet(200))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"Slots":"0-99,200"}`; got != want {
		t.Fatalf("json = %s, want %s", got, want)
	}
	var out struct{ Slots SlotSet }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Slots.Equal(in.Slots) {
		t.Fatalf("round trip = %s, want %s", out.Slots, in.Slots)
	}
}

// randomSlotSet returns a set of a few random runs, the shape real slot
// ownership has, mixed with scattered single slots.
func randomSlotSet(r *rand.Rand) SlotSet {
	var s SlotSet
	for range r.IntN(8) {
		lo := r.IntN(SlotCount)
		hi := min(SlotCount-1, lo+r.IntN(3000))
		s.AddRange(lo, hi)
	}
	for range r.IntN(20) {
		s.Add(r.IntN(SlotCount))
	}
	return s
}

// naive is a reference model of a slot set: a map.
func naive(s SlotSet) map[int]bool {
	m := map[int]bool{}
	s.Each(func(x int) bool { m[x] = true; return true })
	return m
}

func TestSlotSetProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		a, b, c := randomSlotSet(r), randomSlotSet(r), randomSlotSet(r)

		// Round trip through the text form and through Ranges.
		back, err := ParseSlotSet(a.String())
		if err != nil || !back.Equal(a) {
			t.Fatalf("case %d: ParseSlotSet(String()) = %s, %v; want %s", i, back, err, a)
		}
		var fromRanges SlotSet
		n := 0
		for j, rg := range a.Ranges() {
			if rg.Start > rg.End {
				t.Fatalf("case %d: inverted range %v", i, rg)
			}
			if j > 0 && a.Ranges()[j-1].End+1 >= rg.Start {
				t.Fatalf("case %d: ranges not maximal/ascending: %v", i, a.Ranges())
			}
			fromRanges.AddRange(rg.Start, rg.End)
			n += rg.Len()
		}
		if !fromRanges.Equal(a) || n != a.Count() {
			t.Fatalf("case %d: Ranges() do not rebuild the set", i)
		}
		if got := len(a.Slots()); got != a.Count() {
			t.Fatalf("case %d: len(Slots()) = %d, Count() = %d", i, got, a.Count())
		}

		// Set algebra laws.
		laws := []struct {
			name string
			ok   bool
		}{
			{"union commutes", a.Union(b).Equal(b.Union(a))},
			{"intersection commutes", a.Intersect(b).Equal(b.Intersect(a))},
			{"union associates", a.Union(b).Union(c).Equal(a.Union(b.Union(c)))},
			{"distributes", a.Intersect(b.Union(c)).Equal(a.Intersect(b).Union(a.Intersect(c)))},
			{"de Morgan", a.Union(b).Complement().Equal(a.Complement().Intersect(b.Complement()))},
			{"difference", a.Difference(b).Equal(a.Intersect(b.Complement()))},
			{"complement involutes", a.Complement().Complement().Equal(a)},
			{"complement partitions", a.Union(a.Complement()).IsFull() && !a.Overlaps(a.Complement())},
			{"overlaps", a.Overlaps(b) == !a.Intersect(b).IsEmpty()},
			{"inclusion-exclusion", a.Union(b).Count() == a.Count()+b.Count()-a.Intersect(b).Count()},
			{"take partitions", a.TakeLowest(a.Count() / 2).Union(a.TakeHighest(a.Count() - a.Count()/2)).Equal(a)},
		}
		for _, l := range laws {
			if !l.ok {
				t.Fatalf("case %d: %s fails for a=%s b=%s c=%s", i, l.name, a, b, c)
			}
		}

		// Against the map model.
		ma, mb := naive(a), naive(b)
		inter := 0
		for x := range ma {
			if mb[x] {
				inter++
			}
		}
		if inter != a.Intersect(b).Count() {
			t.Fatalf("case %d: intersection count %d, model %d", i, a.Intersect(b).Count(), inter)
		}
		if first := a.First(); first >= 0 && (!ma[first] || slices.Min(a.Slots()) != first) {
			t.Fatalf("case %d: First() = %d", i, first)
		}
	}
}
