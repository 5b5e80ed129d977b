//go:build e2e

package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testnet"
)

// The benchmarks behind `make bench` (-benchtime 1x: each takes its own
// fixed number of samples and reports medians, so b.N does not matter).

// Size budgets: every dependency is a cost in the image everyone pulls.
// 12 MiB held wait with its database, gRPC and Kubernetes checkers; fetch
// brings the Vault client (+1.4 MB), so the budget is 16 MiB. Each heavy
// checker or source can be compiled out (BenchmarkCheckerCost).
const (
	binaryBudget = 16 << 20
	imageBudget  = 16 << 20
)

func binaryPath() string { return filepath.Join(repoRoot, "build", "initbox") }

func BenchmarkSize(b *testing.B) {
	fi, err := os.Stat(binaryPath())
	if err != nil {
		b.Fatalf("build/initbox: %v (make images builds it)", err)
	}
	out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Size}}", images.initbox).Output()
	if err != nil {
		b.Fatal(err)
	}
	img, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	for b.Loop() {
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "binary-MiB")
	b.ReportMetric(float64(img)/(1<<20), "image-MiB")
	if fi.Size() > binaryBudget || img > imageBudget {
		b.Fatalf("over the size budget: binary %d, image %d bytes (budget %d, %d)", fi.Size(), img, binaryBudget, imageBudget)
	}
}

// BenchmarkCheckerCost reports what each protocol checker adds to the
// binary: the full build minus a build with that checker compiled out.
func BenchmarkCheckerCost(b *testing.B) {
	build := func(tags string) int64 {
		out := filepath.Join(b.TempDir(), "initbox")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-tags", tags, "-o", out, "./cmd/initbox")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build -tags %q: %v\n%s", tags, err, msg)
		}
		fi, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		return fi.Size()
	}
	for b.Loop() {
		full := build("")
		all := []string{}
		for _, c := range []string{"postgres", "mysql", "redis", "grpc", "k8s", "vault"} {
			tag := "initbox_no_" + c
			all = append(all, tag)
			b.ReportMetric(float64(full-build(tag))/1024, c+"-KiB")
		}
		b.ReportMetric(float64(full-build(strings.Join(all, ",")))/1024, "all-checkers-KiB")
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func maxOf(ds []time.Duration) time.Duration { return slices.Max(ds) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Cold start: the binary as a process, and the image as a container (what
// an init container costs before it does anything).
func BenchmarkColdStart(b *testing.B) {
	run := func(b *testing.B, n int, name string, args ...string) {
		var samples []time.Duration
		for b.Loop() {
			samples = samples[:0]
			for range n {
				start := time.Now()
				if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", name, err, out)
				}
				samples = append(samples, time.Since(start))
			}
		}
		b.ReportMetric(ms(median(samples)), "median-ms")
	}
	b.Run("binary-version", func(b *testing.B) { run(b, 50, binaryPath(), "version") })
	b.Run("container-version", func(b *testing.B) {
		run(b, 10, "docker", "run", "--rm", "--read-only", "--cap-drop", "ALL", images.initbox, "version")
	})
}

// Readiness lag: the time from a listener opening to the waiting tool
// exiting, with each tool's default settings, after the dependency was down
// for 3 s. Also the attempts initbox made in those 3 s.
func BenchmarkReadinessLag(b *testing.B) {
	const samples = 12
	tools := []struct {
		name string
		cmd  func(addr string) *exec.Cmd
	}{
		{"initbox", func(addr string) *exec.Cmd {
			return exec.Command(binaryPath(), "wait", "tcp://"+addr, "--timeout", "30s")
		}},
		{"wait-for-it", func(addr string) *exec.Cmd {
			return exec.Command("wait-for-it", "-t", "30", "-s", addr)
		}},
	}
	attemptsRE := regexp.MustCompile(`attempts=(\d+)`)
	for _, tool := range tools {
		b.Run(tool.name, func(b *testing.B) {
			if _, err := exec.LookPath(tool.cmd("x:1").Path); err != nil {
				b.Fatalf("%s is not installed (apt-get install wait-for-it; .ci/run does): %v", tool.name, err)
			}
			var lags []time.Duration
			var attempts []int
			for b.Loop() {
				lags, attempts = lags[:0], attempts[:0]
				for i := range samples {
					// Vary the down time a little so that the opening lands
					// at different points of each tool's polling cycle.
					down := 3*time.Second + time.Duration(i)*83*time.Millisecond
					lag, out := measureLag(b, tool.cmd, down)
					lags = append(lags, lag)
					if m := attemptsRE.FindStringSubmatch(out); m != nil {
						n, _ := strconv.Atoi(m[1])
						attempts = append(attempts, n-1) // the failed ones
					}
				}
			}
			b.ReportMetric(ms(median(lags)), "median-lag-ms")
			b.ReportMetric(ms(maxOf(lags)), "max-lag-ms")
			if len(attempts) > 0 {
				slices.Sort(attempts)
				b.ReportMetric(float64(attempts[len(attempts)/2]), "attempts-in-3s")
			}
		})
	}
}

// measureLag starts the tool against a closed port, opens the port after
// down, and returns how long the tool took to exit after that, with its
// output.
func measureLag(b *testing.B, cmdFor func(string) *exec.Cmd, down time.Duration) (time.Duration, string) {
	b.Helper()
	addr := testnet.ClosedAddr(b, "tcp", "127.0.0.1")
	cmd := cmdFor(addr)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(down)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cmd.Process.Kill()
		b.Fatalf("reopening %s: %v", addr, err)
	}
	opened := time.Now()
	go testnet.AcceptAndClose(ln)
	err = cmd.Wait()
	lag := time.Since(opened)
	ln.Close()
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, out.String())
	}
	return lag, out.String()
}
