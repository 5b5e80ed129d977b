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
			read := false
			limit := func() int64 { read = true; return tc.limit }
			if got := plan(Default, tc.env, limit); got != tc.want {
				t.Fatalf("plan = %d, want %d", got, tc.want)
			}
			if tuned := tc.env("GOGC") != "" || tc.env("GOMEMLIMIT") != ""; read == tuned {
				t.Fatalf("cgroup limit read: %v; want it read only when GOGC and GOMEMLIMIT are unset", read)
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
	defer func(p, r string) { procCgroup, cgroupRoot = p, r }(procCgroup, cgroupRoot)
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		proc  string
		files map[string]string
		want  int64
	}{
		{"no /proc/self/cgroup", "", nil, 0},
		{"v2, own namespace", "0::/\n", map[string]string{"memory.max": "268435456\n"}, 256 << 20},
		{"v2, no limit", "0::/\n", map[string]string{"memory.max": "max\n"}, 0},
		{"v2, the container's cgroup under the pod's: the smaller wins", "0::/kubepods/pod1/ctr\n", map[string]string{
			"kubepods/memory.max": "max\n", "kubepods/pod1/memory.max": "536870912\n", "kubepods/pod1/ctr/memory.max": "1073741824\n",
		}, 512 << 20},
		{"v1 memory hierarchy, not namespaced", "4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/\n", map[string]string{
			"memory/memory.limit_in_bytes": "9223372036854771712\n", "memory/process_api/x/memory.limit_in_bytes": "134217728\n",
		}, 128 << 20},
		{"v1 in a Docker container: the path is the host's, the mount the container's cgroup", "4:memory:/docker/25650b7b\n0::/docker/25650b7b\n",
			map[string]string{"memory/memory.limit_in_bytes": "100663296\n"}, 96 << 20},
		{"v1 with controllers listed together", "3:cpuacct,memory:/a\n", map[string]string{"memory/a/memory.limit_in_bytes": "67108864"}, 64 << 20},
		{"malformed lines are ignored", "garbage\n0::/\n", map[string]string{"memory.max": "33554432"}, 32 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			procCgroup, cgroupRoot = filepath.Join(dir, "proc-cgroup"), filepath.Join(dir, "sys")
			if tc.proc != "" {
				write(procCgroup, tc.proc)
			}
			for name, content := range tc.files {
				write(filepath.Join(cgroupRoot, name), content)
			}
			if got := cgroupLimit(); got != tc.want {
				t.Fatalf("cgroupLimit = %d, want %d", got, tc.want)
			}
		})
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
