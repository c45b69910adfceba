package checker

import (
	"testing"
)

func w(v int64, acked bool, keys ...string) Op {
	return Op{Kind: Write, Keys: keys, Version: v, Acked: acked}
}

func r(got []int64, keys ...string) Op {
	return Op{Kind: Read, Keys: keys, Got: got, Acked: true}
}

func TestVerify(t *testing.T) {
	group := []string{"{g}:a", "{g}:b"}
	tests := []struct {
		name  string
		ops   []Op
		final map[string]int64
		want  []ViolationKind
	}{
		{
			name:  "passes a clean history",
			ops:   []Op{w(1, true, "k"), r([]int64{1}, "k"), w(2, true, "k"), r([]int64{2}, "k")},
			final: map[string]int64{"k": 2},
		},
		{
			name:  "passes a read of a key never written as missing",
			ops:   []Op{r([]int64{0}, "k"), w(1, true, "k")},
			final: map[string]int64{"k": 1},
		},
		{
			name:  "fails a read older than the last acknowledged write",
			ops:   []Op{w(1, true, "k"), w(2, true, "k"), r([]int64{1}, "k")},
			final: map[string]int64{"k": 2},
			want:  []ViolationKind{LostWrite},
		},
		{
			name:  "fails an acknowledged write missing at the end",
			ops:   []Op{w(1, true, "k"), w(2, true, "k")},
			final: map[string]int64{"k": 1},
			want:  []ViolationKind{LostWrite},
		},
		{
			name:  "fails an acknowledged key gone at the end",
			ops:   []Op{w(1, true, "k")},
			final: map[string]int64{},
			want:  []ViolationKind{LostWrite},
		},
		{
			name:  "fails an old value read back after a newer one",
			ops:   []Op{w(1, true, "k"), w(2, false, "k"), r([]int64{2}, "k"), r([]int64{1}, "k")},
			final: map[string]int64{"k": 2},
			want:  []ViolationKind{Resurrected},
		},
		{
			name:  "passes an unacknowledged write read back",
			ops:   []Op{w(1, true, "k"), w(2, false, "k"), r([]int64{2}, "k")},
			final: map[string]int64{"k": 2},
		},
		{
			name:  "passes an unacknowledged write that was not applied",
			ops:   []Op{w(1, true, "k"), w(2, false, "k"), r([]int64{1}, "k")},
			final: map[string]int64{"k": 1},
		},
		{
			name:  "fails a version never written",
			ops:   []Op{w(1, true, "k"), r([]int64{7}, "k")},
			final: map[string]int64{"k": 1},
			want:  []ViolationKind{Phantom},
		},
		{
			name:  "fails a torn group read",
			ops:   []Op{w(1, true, group...), w(2, false, group...), r([]int64{2, 1}, group...)},
			final: map[string]int64{"{g}:a": 2, "{g}:b": 2},
			want:  []ViolationKind{Torn},
		},
		{
			name:  "passes a group read together",
			ops:   []Op{w(1, true, group...), w(2, true, group...), r([]int64{2, 2}, group...)},
			final: map[string]int64{"{g}:a": 2, "{g}:b": 2},
		},
		{
			name:  "ignores a read that failed",
			ops:   []Op{w(1, true, "k"), w(2, true, "k"), {Kind: Read, Keys: []string{"k"}, Acked: false}},
			final: map[string]int64{"k": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify([]History{{Client: 3, Ops: tt.ops}}, tt.final)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("violations %v, want kinds %v", got, tt.want)
			}
			for i := range got {
				if got[i].Kind != tt.want[i] {
					t.Errorf("violation %d = %v, want kind %s", i, got[i], tt.want[i])
				}
				if got[i].Client != 3 {
					t.Errorf("violation %d names client %d, want 3", i, got[i].Client)
				}
			}
		})
	}
}

func TestVerifyRefusesAKeyWithTwoOwners(t *testing.T) {
	_, err := Verify([]History{
		{Client: 0, Ops: []Op{w(1, true, "k")}},
		{Client: 1, Ops: []Op{w(1, true, "k")}},
	}, map[string]int64{"k": 1})
	if err == nil {
		t.Fatal("Verify accepted a key written by two clients")
	}
}
