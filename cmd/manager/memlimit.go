package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"

	"k8s.io/apimachinery/pkg/api/resource"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when neither
// --memory-limit nor GOMEMLIMIT is given. It bounds the memory the Go
// runtime manages (heap, stacks, runtime metadata), not the binary's own
// pages, which add about 29 MiB to the resident set. See
// docs/design/2026-11-25-manager-memory.md for the measurements behind it.
const defaultMemoryLimit = 24 << 20

// memoryLimit returns the soft memory limit to apply, from the
// --memory-limit flag value (a Kubernetes quantity such as "24Mi"; "0"
// means no limit) or, when the flag is empty, GOMEMLIMIT as the Go
// runtime already applied it, or defaultMemoryLimit. apply reports
// whether the caller must set it (false: the runtime's GOMEMLIMIT stands).
func memoryLimit(flagValue string, env func(string) (string, bool)) (limit int64, apply bool, err error) {
	if flagValue == "" {
		if _, set := env("GOMEMLIMIT"); set {
			return debug.SetMemoryLimit(-1), false, nil
		}
		return defaultMemoryLimit, true, nil
	}
	q, err := resource.ParseQuantity(flagValue)
	if err != nil {
		return 0, false, fmt.Errorf("--memory-limit %q: %w", flagValue, err)
	}
	v, ok := q.AsInt64()
	if !ok || v < 0 {
		return 0, false, fmt.Errorf("--memory-limit %q: not a byte count", flagValue)
	}
	if v == 0 {
		return math.MaxInt64, true, nil
	}
	return v, true, nil
}

// setMemoryLimit applies --memory-limit (see memoryLimit) and returns the
// limit in force.
func setMemoryLimit(flagValue string) (int64, error) {
	limit, apply, err := memoryLimit(flagValue, os.LookupEnv)
	if err != nil {
		return 0, err
	}
	if apply {
		debug.SetMemoryLimit(limit)
	}
	return limit, nil
}
