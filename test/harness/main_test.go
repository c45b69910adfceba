package harness

import (
	"os"
	"testing"

	"github.com/redkube/redkube/internal/podexec"
)

// TestMain lets the node agent re-execute this test binary as a pod's init.
func TestMain(m *testing.M) {
	podexec.MaybeInit()
	os.Exit(m.Run())
}
