package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testnet"
)

func init() { minRefresh = 10 * time.Millisecond }

func freeAddr(t *testing.T) string { return testnet.FreeAddr(t) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The first pass's error is the command's; nothing is served after it.
func TestFirstPassErrorIsReturnedAsIs(t *testing.T) {
	want := exitcode.WithCode(exitcode.Failure, errors.New("no such secret"))
	addr := freeAddr(t)
	err := Run(context.Background(), Options{Command: "fetch", HealthAddr: addr}, func(ctx context.Context, first bool) (Report, error) {
		return Report{}, want
	})
	if !errors.Is(err, want) || exitcode.Of(err) != exitcode.Failure {
		t.Fatalf("Run = %v (exit %d), want the first pass's error", err, exitcode.Of(err))
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code != 0 {
		t.Errorf("the health server still answers after Run returned: %d", code)
	}
}

// /readyz is 503 until the first pass is done, then 200; /healthz answers
// throughout; a failed later pass keeps it ready and is counted.
func TestReadyAfterFirstPass(t *testing.T) {
	addr := freeAddr(t)
	release := make(chan struct{})
	var passes atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Run(ctx, Options{Command: "render", HealthAddr: addr, Refresh: 20 * time.Millisecond, Interval: 10 * time.Millisecond},
			func(ctx context.Context, first bool) (Report, error) {
				n := passes.Add(1)
				if first {
					<-release
					return Report{Expiries: map[string]time.Time{`vault://db/creds/"app"`: time.Unix(1700000000, 0)}}, nil
				}
				if n%2 == 0 {
					return Report{}, errors.New("vault is away")
				}
				return Report{Changed: []string{"x"}}, nil
			})
	}()
	waitFor(t, func() bool { c, _ := get(t, "http://"+addr+"/healthz"); return c == 200 })
	if c, body := get(t, "http://"+addr+"/readyz"); c != http.StatusServiceUnavailable {
		t.Fatalf("readyz before the first pass: %d %s", c, body)
	}
	close(release)
	waitFor(t, func() bool { c, _ := get(t, "http://"+addr+"/readyz"); return c == 200 })
	waitFor(t, func() bool { return passes.Load() >= 6 })
	if c, _ := get(t, "http://"+addr+"/readyz"); c != 200 {
		t.Errorf("readyz after failed refreshes: %d, want 200 (the files are kept)", c)
	}
	_, text := get(t, "http://"+addr+"/metrics")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	// Prometheus's own parser reads what /metrics serves.
	families, err := new(expfmt.TextParser).TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v\n%s", err, text)
	}
	value := func(name string) float64 {
		f := families[name]
		if f == nil || len(f.Metric) == 0 {
			t.Fatalf("no %s in\n%s", name, text)
		}
		m := f.Metric[0]
		if m.Gauge != nil {
			return m.Gauge.GetValue()
		}
		return m.Counter.GetValue()
	}
	if value("initbox_watch_ready") != 1 || value("initbox_watch_passes_total") < 2 || value("initbox_watch_failures_total") < 1 || value("initbox_watch_changes_total") < 1 {
		t.Errorf("metrics do not match the passes:\n%s", text)
	}
	if now := float64(time.Now().Unix()); value("initbox_watch_last_success_timestamp_seconds") < now-60 || value("initbox_watch_next_refresh_timestamp_seconds") < now-60 {
		t.Errorf("timestamps are not Unix seconds:\n%s", text)
	}
	exp := families["initbox_watch_expiry_timestamp_seconds"]
	if exp == nil || exp.Metric[0].Gauge.GetValue() != 1700000000 || exp.Metric[0].Label[1].GetValue() != `vault://db/creds/"app"` {
		t.Errorf("expiry by reference:\n%s", text)
	}
}

// A failed pass is retried sooner than Refresh, with a growing wait; a
// pass's Next brings the next one forward.
func TestBackoffAndNext(t *testing.T) {
	o := Options{Refresh: time.Hour, Interval: time.Second, MaxInterval: 8 * time.Second}.withDefaults()
	for failures, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 8 * time.Second, 80: 8 * time.Second} {
		d := time.Until(o.next(Report{}, failures))
		if d < time.Duration(float64(want)*(1-Jitter))-time.Millisecond || d > time.Duration(float64(want)*(1+Jitter)) {
			t.Errorf("after %d failures the wait is %s, want %s ±10%%", failures, d, want)
		}
	}
	soon := time.Now().Add(time.Minute)
	if got := o.next(Report{Next: soon}, 0); !got.Equal(soon) {
		t.Errorf("Next %s not honoured: %s", soon, got)
	}
	if got := time.Until(o.next(Report{Next: time.Now().Add(2 * time.Hour)}, 0)); got > time.Hour+time.Hour/10 {
		t.Errorf("a later Next postponed Refresh: %s", got)
	}
	if o := (Options{Refresh: 2 * time.Second}).withDefaults(); o.MaxInterval != 2*time.Second {
		t.Errorf("MaxInterval %s exceeds Refresh", o.MaxInterval)
	}
}

// A wake-up runs a pass at once (after settling), long before Refresh.
func TestWakeRunsAPass(t *testing.T) {
	wake := make(chan struct{}, 1)
	var passes atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, Options{Refresh: time.Hour, Wake: wake}, func(ctx context.Context, first bool) (Report, error) {
		passes.Add(1)
		return Report{}, nil
	})
	waitFor(t, func() bool { return passes.Load() == 1 })
	for range 5 { // a burst: one pass
		wake <- struct{}{}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, func() bool { return passes.Load() == 2 })
	time.Sleep(2 * Settle)
	if n := passes.Load(); n != 2 {
		t.Errorf("a burst of wake-ups ran %d passes, want 1", n-1)
	}
}

// A stop during a pass ends Run with nil once the pass returns.
func TestStopDuringAPass(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	inPass := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- Run(ctx, Options{Refresh: 10 * time.Millisecond}, func(ctx context.Context, first bool) (Report, error) {
			if first {
				return Report{}, nil
			}
			close(inPass)
			<-ctx.Done()
			return Report{}, ctx.Err()
		})
	}()
	<-inPass
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{HealthAddr: "8099"}, "--health-addr"},
		{Options{Refresh: -time.Second}, "negative"},
		{Options{Notify: Notify{Signal: "HUP"}}, "--on-change-process"},
		{Options{Notify: Notify{Process: "nginx"}}, "--on-change-signal"},
		{Options{Notify: Notify{Signal: "HUP", Process: "nginx", PIDFile: "/run/x.pid"}}, "give one"},
		{Options{Notify: Notify{Signal: "RELOAD", Process: "nginx"}}, "HUP, USR1"},
		{Options{Notify: Notify{URL: "ftp://app/reload"}}, "http://"},
		{Options{Notify: Notify{URL: "ftp://user:Pass-Secret-1@app:8080/-/reload"}}, "--on-change-url"},
	} {
		err := tc.o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.o, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "Pass-Secret-1") {
			t.Errorf("the URL's password is in the error: %v", err)
		}
	}
	for _, o := range []Options{{}, {HealthAddr: ":8099", Refresh: time.Minute}, {Notify: Notify{Signal: "SIGHUP", Process: "nginx"}},
		{Notify: Notify{Signal: "usr1", PIDFile: "/run/app.pid", URL: "http://localhost:9090/-/reload"}}, {Notify: Notify{Signal: "10", Process: "x"}}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// A burst of changes is one POST naming them all; a failing endpoint is
// retried until it takes the notification, and the failures are counted.
func TestNotifyURL(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	var fail atomic.Int32
	fail.Store(2)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	m := newMetrics("fetch")
	n := newNotifier(Notify{URL: "http://" + ln.Addr().String() + "/-/reload", Debounce: 50 * time.Millisecond}, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.retry = 10 * time.Millisecond
	go n.run(ctx)
	n.changed([]string{"vault://db/creds/app"})
	n.changed([]string{"vault://pki/issue/web#write", "vault://db/creds/app"})
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) > 0 })
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(bodies) != 1 || bodies[0] != "vault://db/creds/app\nvault://pki/issue/web#write\n" {
		t.Errorf("POSTs: %q, want one naming both changes once", bodies)
	}
	if m.notifyFailed != 2 || m.notifyOK != 1 {
		t.Errorf("notifications: %d failed, %d ok; want 2 and 1", m.notifyFailed, m.notifyOK)
	}
}

// The signal reaches a process by its name and by a pid file, never this
// process; no process of that name is an error that says what to check.
func TestNotifySignal(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "shop-app")
	sleep, _ := exec.LookPath("sleep")
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(app, b, 0o755)
	for _, byName := range []bool{true, false} {
		cmd := exec.Command(app, "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		o := Notify{Signal: "HUP", Process: "shop-app"}
		if !byName {
			pidFile := filepath.Join(dir, "app.pid")
			os.WriteFile(pidFile, fmt.Appendf(nil, "%d\n", cmd.Process.Pid), 0o644)
			o = Notify{Signal: "SIGHUP", PIDFile: pidFile}
		}
		// Wait for the exec: until then the child is named after this test.
		waitFor(t, func() bool {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
			return strings.TrimSpace(string(b)) == "shop-app"
		})
		if err := newNotifier(o, newMetrics("x")).deliver(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGHUP {
			t.Errorf("by name %v: the app ended with %v, want SIGHUP", byName, err)
		}
	}
	err = newNotifier(Notify{Signal: "HUP", Process: "no-such-app-4242"}, newMetrics("x")).deliver(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "shareProcessNamespace") {
		t.Errorf("no such process: %v", err)
	}
}

// A file written in place, a file replaced by a rename, and a Kubernetes
// volume's ..data swap each wake the watch; a neighbour's change does not.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "values.yaml")
	os.WriteFile(plain, []byte("a: 1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "other.txt"), []byte("x"), 0o644)
	// A ConfigMap volume: values.yaml → ..data/values.yaml → ..v1/values.yaml.
	vol := filepath.Join(dir, "vol")
	os.MkdirAll(filepath.Join(vol, "..v1"), 0o755)
	os.WriteFile(filepath.Join(vol, "..v1", "values.yaml"), []byte("b: 1\n"), 0o644)
	os.Symlink("..v1", filepath.Join(vol, "..data"))
	os.Symlink("..data/values.yaml", filepath.Join(vol, "values.yaml"))
	tree := filepath.Join(dir, "templates")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake := make(chan struct{}, 1)
	later := filepath.Join(dir, "later.yaml") // optional, not there yet
	if err := Files(ctx, []string{plain, filepath.Join(vol, "values.yaml"), tree, later}, wake); err != nil {
		t.Fatal(err)
	}
	expect := func(what string, want bool) {
		t.Helper()
		select {
		case <-wake:
			if !want {
				t.Errorf("%s woke the watch", what)
			}
		case <-time.After(300 * time.Millisecond):
			if want {
				t.Errorf("%s did not wake the watch", what)
			}
		}
		for len(wake) > 0 {
			<-wake
		}
	}
	os.WriteFile(filepath.Join(dir, "other.txt"), []byte("y"), 0o644)
	expect("a neighbour's write", false)
	os.WriteFile(plain, []byte("a: 2\n"), 0o644)
	expect("a write in place", true)
	os.WriteFile(plain+".tmp", []byte("a: 3\n"), 0o644)
	time.Sleep(50 * time.Millisecond)
	for len(wake) > 0 {
		<-wake
	}
	os.Rename(plain+".tmp", plain)
	expect("a rename over the file", true)
	// The kubelet's swap: a new version directory, a new link renamed over ..data.
	os.MkdirAll(filepath.Join(vol, "..v2"), 0o755)
	os.WriteFile(filepath.Join(vol, "..v2", "values.yaml"), []byte("b: 2\n"), 0o644)
	os.Symlink("..v2", filepath.Join(vol, "..data_tmp"))
	time.Sleep(50 * time.Millisecond)
	for len(wake) > 0 {
		<-wake
	}
	os.Rename(filepath.Join(vol, "..data_tmp"), filepath.Join(vol, "..data"))
	expect("the ..data swap", true)
	os.WriteFile(filepath.Join(tree, "sub", "new.tmpl"), []byte("x"), 0o644)
	expect("a new template in a subdirectory", true)
	os.MkdirAll(filepath.Join(tree, "later"), 0o755)
	expect("a new subdirectory", true)
	os.WriteFile(filepath.Join(tree, "later", "t.tmpl"), []byte("x"), 0o644)
	expect("a file in the new subdirectory", true)

	os.WriteFile(later, []byte("c: 1\n"), 0o644)
	expect("a file that appears", true)
	if err := Files(ctx, []string{filepath.Join(dir, "no-such-dir", "values.yaml")}, wake); err == nil || !strings.Contains(err.Error(), "no-such-dir") {
		t.Errorf("a file in a missing directory: %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
