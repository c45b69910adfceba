//go:build tools

// Package tools names the command this build module builds (SeaweedFS's weed,
// whose S3 gateway the backup tests use), so that its large dependency graph
// stays out of the project's main module and out of hack/tools-build.
package tools

import (
	_ "github.com/seaweedfs/seaweedfs/weed"
)
