package cli

import (
	"bytes"
	"context"
	"testing"

	"github.com/redkube/redkube/internal/version"
)

func TestVersionFlagPrintsTheBuildAndExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"--version"}, &stdout, &stderr)
	if code != ExitOK {
		t.Fatalf("rcctl --version exited %d, stderr %q", code, stderr.String())
	}
	if want := "rcctl version " + version.String() + "\n"; stdout.String() != want {
		t.Fatalf("rcctl --version printed %q, want %q", stdout.String(), want)
	}
}
