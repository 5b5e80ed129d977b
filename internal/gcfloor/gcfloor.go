// Package gcfloor lets a short-lived process's heap grow to a floor before
// the garbage collector first runs, then hands back to Go's usual policy.
//
// A fresh Go process collects when its heap reaches 4 MB, then at twice the
// live heap: rendering a thousand templates (a 22 MB heap at its peak, the
// runtime's own 10 MB aside) paid five collections, with write barriers on
// for much of its run — a fifth of its CPU, for a process that exits a
// moment later. With the default floor (48 MiB of memory from the OS, which
// the limit counts) it pays none; a
// process that grows beyond the floor pays one collection there and from
// then on collects as any Go program does (GOGC=100). A streaming command
// (fetch, seed) holds little and stays near the floor at most.
//
// The floor is at most a quarter of the memory limit of the process's
// cgroup (v2 memory.max, or v1 memory.limit_in_bytes; the smallest on the
// way to the root), and nothing is changed when the user set GOGC or
// GOMEMLIMIT.
//
//	gcfloor.Set(gcfloor.Default) // first thing in Main
package gcfloor

import (
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Default is the floor initbox uses: room for a thousand rendered
// templates with their print checks and output checks (the runtime's own
// memory included; 32 MiB was one collection short).
const Default = 48 << 20

// Where the process's cgroups are listed and mounted (variables for tests).
var (
	procCgroup = "/proc/self/cgroup"
	cgroupRoot = "/sys/fs/cgroup"
)

var once sync.Once

// Set applies the floor once per process (later calls do nothing) and
// returns the floor applied, 0 if none.
func Set(floor int64) (applied int64) {
	once.Do(func() {
		applied = plan(floor, os.Getenv, cgroupLimit)
		if applied > 0 {
			apply(applied)
		}
	})
	return applied
}

// plan returns the floor to apply: none when the user tuned the collector
// (and then the cgroup files are not read), and at most a quarter of the
// memory limit (0: no limit).
func plan(floor int64, getenv func(string) string, memoryLimit func() int64) int64 {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return 0
	}
	if limit := memoryLimit(); limit > 0 {
		floor = min(floor, limit/4)
	}
	return max(floor, 0)
}

// apply turns the percentage-based collector off and makes the floor the
// memory limit, so that the first collection happens there; the cleanup of
// an object that nothing references runs after that first collection and
// restores both settings.
func apply(floor int64) {
	pct := debug.SetGCPercent(-1)
	lim := debug.SetMemoryLimit(floor)
	runtime.AddCleanup(new(sentinel), func(struct{}) {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(lim)
	}, struct{}{})
}

// sentinel holds a pointer so that the allocator gives it an object of its
// own (cleanups on tiny pointer-free objects may never run).
type sentinel struct{ _ *byte }

// cgroupLimit returns the smallest memory limit on the way from the
// process's own cgroup up to the root, in cgroup v2 (memory.max) or v1's
// memory hierarchy (memory.limit_in_bytes); 0 if none is set or readable.
// In a container with its own cgroup namespace the way is just "/"; without
// one (or on a node) it is the full path /proc/self/cgroup names.
func cgroupLimit() int64 {
	b, err := os.ReadFile(procCgroup)
	if err != nil {
		return 0
	}
	var limit int64
	for line := range strings.Lines(string(b)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3) // ID:controllers:path
		if len(f) != 3 {
			continue
		}
		var dir, file string
		switch {
		case f[0] == "0" && f[1] == "":
			dir, file = cgroupRoot, "memory.max"
		case slices.Contains(strings.Split(f[1], ","), "memory"):
			dir, file = filepath.Join(cgroupRoot, "memory"), "memory.limit_in_bytes"
		default:
			continue
		}
		for p := path.Clean("/" + f[2]); ; p = path.Dir(p) {
			if b, err := os.ReadFile(filepath.Join(dir, p, file)); err == nil {
				if n := parseLimit(string(b)); n > 0 && (limit == 0 || n < limit) {
					limit = n
				}
			}
			if p == "/" {
				break
			}
		}
	}
	return limit
}

// parseLimit reads a cgroup memory limit: "max" (v2) and v1's "no limit"
// (a page-rounded MaxInt64) mean none.
func parseLimit(s string) int64 {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0
	}
	return n
}
