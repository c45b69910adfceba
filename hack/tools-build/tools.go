//go:build tools

// Package tools names the commands this build module builds (helm and
// promtool, for the chart and alert-rule tests), so that `go mod tidy` keeps
// their dependencies out of the project's main module.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
	_ "helm.sh/helm/v4/cmd/helm"
)
