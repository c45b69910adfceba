package topology

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseClusterNodes checks that the parser never panics and that any
// listing it accepts renders back into text that parses to the same View.
func FuzzParseClusterNodes(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "cluster-nodes", "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, text string) {
		v, err := ParseClusterNodes(text)
		if err != nil {
			return
		}
		assertRendersBack(t, v)
		for _, n := range v.Nodes {
			_ = n.Host()
			_ = n.Port()
			_ = n.Slots.Ranges()
		}
		_ = v.SlotOwners()
	})
}
