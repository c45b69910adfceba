// Package chaos runs the operator through failures under a continuous
// writer, on the local Kubernetes of test/harness, and checks that no
// acknowledged write is lost and that the cluster ends Ready and
// consistent.
//
// Each scenario that draws random moments names its seed; a failed seed
// reproduces with REDKUBE_CHAOS_SEEDS=<seed>. `make test` runs one seed
// (the reduced form); `make chaos` runs REDKUBE_CHAOS_RUNS seeds (default
// 5) and the scenarios marked long.
package chaos
