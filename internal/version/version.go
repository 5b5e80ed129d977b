// Package version holds the build's version and commit, set by the Makefile
// with -ldflags "-X github.com/initbox/initbox/internal/version.Version=…".
package version

import (
	"fmt"
	"runtime"
)

// Set at link time.
var (
	Version = "dev"
	Commit  = "unknown"
)

// String is what `initbox version` prints.
func String() string {
	return fmt.Sprintf("initbox %s (commit %s, %s, %s/%s)", Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
