package gcfloor

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name  string
		env   func(string) string
		limit int64
		want  int64
	}{
		{"no limit", env(), 0, Default},
		{"large limit", env(), 1 << 30, Default},
		{"small limit: a quarter of it", env(), 128 << 20, 32 << 20},
		{"GOGC set", env("GOGC", "200"), 0, 0},
		{"GOGC=off", env("GOGC", "off"), 1 << 30, 0},
		{"GOMEMLIMIT set", env("GOMEMLIMIT", "100MiB"), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plan(Default, tc.env, tc.limit); got != tc.want {
				t.Fatalf("plan = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"max\n":                 0,
		"268435456\n":           256 << 20,
		"9223372036854771712\n": 0, // cgroup v1: no limit
		"":                      0,
		"-1":                    0,
		"garbage":               0,
	} {
		if got := parseLimit(in); got != want {
			t.Errorf("parseLimit(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestCgroupLimit(t *testing.T) {
	dir := t.TempDir()
	v2, v1 := filepath.Join(dir, "memory.max"), filepath.Join(dir, "limit_in_bytes")
	defer func(f []string) { cgroupFiles = f }(cgroupFiles)
	cgroupFiles = []string{v2, v1}
	if got := cgroupLimit(); got != 0 {
		t.Fatalf("no files: %d, want 0", got)
	}
	if err := os.WriteFile(v1, []byte("536870912\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := cgroupLimit(); got != 512<<20 {
		t.Fatalf("v1 only: %d, want %d", got, 512<<20)
	}
	if err := os.WriteFile(v2, []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := cgroupLimit(); got != 0 {
		t.Fatalf("v2 max: %d, want 0 (v2 wins)", got)
	}
}

// TestApply: no collection below the floor, the first one at the floor,
// and Go's usual policy back after it.
func TestApply(t *testing.T) {
	pct := debug.SetGCPercent(100)
	lim := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(pct); debug.SetMemoryLimit(lim) })
	runtime.GC()

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	floor := int64(ms.Sys-ms.HeapReleased) + 128<<20 // above what the runtime holds now (what the limit counts)
	before := ms.NumGC
	apply(floor)
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GC percent after apply = %d, want -1 (off until the floor)", got)
	}
	var keep [][]byte
	for range 8 { // 32 MiB, below the floor: no collection
		keep = append(keep, make([]byte, 4<<20))
	}
	runtime.ReadMemStats(&ms)
	if ms.NumGC != before {
		t.Fatalf("%d collections below the floor, want none", ms.NumGC-before)
	}
	for range 128 { // 512 MiB in all: past the floor, garbage
		keep = append(keep[:8], make([]byte, 4<<20))
	}
	runtime.ReadMemStats(&ms)
	if ms.NumGC == before {
		t.Fatal("no collection past the floor")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := debug.SetGCPercent(-1)
		debug.SetGCPercent(got)
		if got == 100 && debug.SetMemoryLimit(-1) == math.MaxInt64 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the first collection: GC percent %d, memory limit %d; want 100 and no limit", got, debug.SetMemoryLimit(-1))
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(keep)
}
