//go:build !linux

package watch

import "runtime/debug"

// rest returns the heap's free pages to the system before the loop sleeps.
func rest() { debug.FreeOSMemory() }
