// Command printversion prints version.String(); version_test.go builds it
// with the Makefile's -ldflags -X to check that the linker reaches the
// package's variables.
package main

import (
	"fmt"

	"github.com/redkube/redkube/internal/version"
)

func main() { fmt.Println(version.String()) }
