package localkube_test

import (
	"os"
	"testing"

	"github.com/redkube/redkube/internal/podexec"
)

// TestMain lets the test binary serve as the pod process launcher the node
// agent re-executes (podexec), for the tests that run pods.
func TestMain(m *testing.M) {
	podexec.MaybeInit()
	os.Exit(m.Run())
}
