package main

import (
	"slices"
	"testing"
)

func TestSplitNamespaces(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"empty watches every namespace", "", nil},
		{"names in their order", "b,a", []string{"b", "a"}},
		{"blanks and empty items are ignored", " a , ,b,", []string{"a", "b"}},
		{"a repeated name counts once", "a,b,a", []string{"a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := splitNamespaces(c.in); !slices.Equal(got, c.want) {
				t.Errorf("splitNamespaces(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}
