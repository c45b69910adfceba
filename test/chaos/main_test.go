package chaos

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/redkube/redkube/internal/podexec"
)

// TestMain lets the node agent re-execute this test binary as a pod's init.
// The manager runs as its own process here: the API clients of this one
// log nothing.
func TestMain(m *testing.M) {
	podexec.MaybeInit()
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
