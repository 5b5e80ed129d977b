//go:build e2e

package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// listeningAt returns the time a testbin listener logged it was listening.
func listeningAt(t *testing.T, logs string) time.Time {
	t.Helper()
	m := regexp.MustCompile(`listening at (\S+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("the dependency never logged that it listens:\n%s", logs)
	}
	ts, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// 1. A dependency that starts listening 5 s after the pod starts: the init
// container blocks until then, and the main container starts after it,
// never before.
func TestWaitGatesMainContainerUntilDependencyListens(t *testing.T) {
	nw := NewNetwork(t)
	db := Service(t, nw, "db", Container{Name: "db", Image: images.testbin, Args: []string{"listen", "-after", "5s", "-addr", ":5432"}})
	st := RunPod(t, Pod{
		Name:    "app",
		Network: nw,
		InitContainers: []Container{{
			Name: "wait-for-db", Image: images.initbox, Restricted: true,
			Args: []string{"wait", "tcp://db:5432", "--timeout", "60s"},
		}},
		Containers: []Container{{Name: "main", Image: images.busybox, Args: []string{"-c", "echo main started"}}},
	})
	listening := listeningAt(t, readLogs(t.Context(), db))
	init, main := st.Get(t, "wait-for-db"), st.Get(t, "main")
	if init.ExitCode != 0 {
		t.Fatalf("wait exited %d:\n%s", init.ExitCode, init.Logs)
	}
	if !init.FinishedAt.After(listening) {
		t.Errorf("wait finished at %v, before the dependency listened at %v", init.FinishedAt, listening)
	}
	if !main.Ran || !main.StartedAt.After(listening) || !main.StartedAt.After(init.FinishedAt) {
		t.Errorf("main started at %v; dependency listening at %v, wait finished at %v", main.StartedAt, listening, init.FinishedAt)
	}
	if waited := init.FinishedAt.Sub(init.StartedAt); waited < 3*time.Second {
		t.Errorf("wait took only %v for a dependency 5 s late", waited)
	}
	logsContain(t, "main logs", main.Logs, "main started")
	logsContain(t, "wait logs", init.Logs, "target ready", "target=tcp://db:5432")
}

// 2. A dependency that never comes up: exit 124 within --timeout + 1 s, the
// main container never starts, the termination message names the target.
func TestWaitTimeoutStopsThePod(t *testing.T) {
	st := RunPod(t, Pod{
		Name: "app",
		InitContainers: []Container{{
			Name: "wait-for-db", Image: images.initbox, Restricted: true,
			Args: []string{"wait", "tcp://db.invalid:5432", "http://localhost:9/health", "--timeout", "3s"},
		}},
		Containers: []Container{{Name: "main", Image: images.busybox, Args: []string{"-c", "echo main started"}}},
	})
	init, main := st.Get(t, "wait-for-db"), st.Get(t, "main")
	if init.ExitCode != 124 {
		t.Fatalf("exit %d, want 124:\n%s", init.ExitCode, init.Logs)
	}
	if took := init.FinishedAt.Sub(init.StartedAt); took > 4*time.Second {
		t.Errorf("took %v, want at most --timeout + 1 s", took)
	}
	if main.Ran {
		t.Error("the main container started after a failed init container")
	}
	msg := init.TerminationMessage
	if !strings.HasPrefix(msg, "wait: timed out") || !strings.Contains(msg, "tcp://db.invalid:5432") || !strings.Contains(msg, "http://localhost:9/health") {
		t.Errorf("termination message %q should name every target", msg)
	}
	if strings.Contains(msg, "\n") || len(msg) > 4096 {
		t.Errorf("termination message must be one line ≤ 4 KiB: %q", msg)
	}
}

// 3. The image runs read-only, as 65532, with all capabilities dropped —
// the Kubernetes "restricted" profile — and its links and metadata are as
// documented.
func TestImageRunsRestricted(t *testing.T) {
	st := RunPod(t, Pod{
		Name: "restricted",
		InitContainers: []Container{
			{Name: "version", Image: images.initbox, Restricted: true, Args: []string{"version"}},
			// A failing command still writes its termination message on a
			// read-only root filesystem.
			{Name: "fails", Image: images.initbox, Restricted: true, Args: []string{"wait", "ftp://nope:21"}},
		},
	})
	v := st.Get(t, "version")
	if v.ExitCode != 0 || !strings.HasPrefix(v.Logs, "initbox ") {
		t.Fatalf("version: exit %d: %s", v.ExitCode, v.Logs)
	}
	if v.User != "65532:65532" || !v.ReadonlyRootfs || !slices.Equal(v.CapDrop, []string{"ALL"}) {
		t.Errorf("ran as user %q, read-only %v, cap-drop %v; want 65532:65532, true, [ALL]", v.User, v.ReadonlyRootfs, v.CapDrop)
	}
	f := st.Get(t, "fails")
	if f.ExitCode != 2 || !strings.Contains(f.TerminationMessage, "unknown scheme") {
		t.Errorf("exit %d, termination message %q", f.ExitCode, f.TerminationMessage)
	}
}

// 4. Dispatch through the wait-for link inside the image (as a manifest's
// command: [wait-for] does), with flags after the target.
func TestWaitForLinkInImage(t *testing.T) {
	nw := NewNetwork(t)
	Service(t, nw, "api", Container{Name: "api", Image: images.testbin, Args: []string{"listen", "-http", "-addr", ":8080"}})
	st := RunPod(t, Pod{
		Name:    "link",
		Network: nw,
		InitContainers: []Container{{
			Name: "wait-for", Image: images.initbox, Restricted: true, Command: []string{"wait-for"},
			Args: []string{"http://api:8080/healthz", "--body-regex", "^ok$", "--timeout", "30s"},
		}},
		Containers: []Container{{Name: "main", Image: images.busybox, Args: []string{"-c", "wget -qO- http://api:8080/"}}},
	})
	w := st.Get(t, "wait-for")
	if w.ExitCode != 0 {
		t.Fatalf("wait-for exited %d:\n%s", w.ExitCode, w.Logs)
	}
	logsContain(t, "wait-for logs", w.Logs, "target ready", "http://api:8080/healthz")
	if m := st.Get(t, "main"); m.ExitCode != 0 || m.Logs != "ok" {
		t.Errorf("main: exit %d, logs %q", m.ExitCode, m.Logs)
	}
}

// The harness itself: init containers run in order, share the pod's
// network namespace and emptyDir volumes, and a non-root container can write
// to the volume.
func TestHarnessSharesVolumeAndNetwork(t *testing.T) {
	st := RunPod(t, Pod{
		Name:    "harness",
		Volumes: []string{"shared"},
		InitContainers: []Container{
			{Name: "first", Image: images.busybox, User: "65532:65532", Restricted: true, VolumeMounts: map[string]string{"shared": "/work"},
				Args: []string{"-c", "echo one > /work/order && hostname > /work/host"}},
			{Name: "second", Image: images.busybox, User: "65532:65532", Restricted: true, VolumeMounts: map[string]string{"shared": "/work"},
				Args: []string{"-c", "echo two >> /work/order"}},
		},
		Containers: []Container{{Name: "main", Image: images.busybox, VolumeMounts: map[string]string{"shared": "/data"},
			Args: []string{"-c", `cat /data/order; [ "$(cat /data/host)" = "$(hostname)" ] && echo same-netns`}}},
	})
	if m := st.Get(t, "main"); m.Logs != "one\ntwo\nsame-netns" {
		t.Fatalf("main saw %q", m.Logs)
	}
	first, second := st.Get(t, "first"), st.Get(t, "second")
	if !second.StartedAt.After(first.FinishedAt) {
		t.Error("init containers overlapped")
	}
}
