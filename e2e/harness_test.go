//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The pod harness reproduces Kubernetes init-container semantics on Docker
// (docs/design.md §9): a pause container holds the pod's network namespace; init
// containers join it and run one at a time, in order, each to exit 0 before
// the next starts; a failing init container stops the pod and the main
// containers never start; emptyDir volumes are Docker volumes (mode 0777, as
// the kubelet makes them); each container gets a /dev/termination-log file,
// bind-mounted like the kubelet does.
//
// Native sidecars (Kubernetes ≥ 1.29): an init container with
// RestartPolicy "Always" is started in its place in the order and keeps
// running; the next container starts once its StartupProbe has passed (or
// at once, without a probe); it is restarted whenever it exits; when the
// main containers have finished, the sidecars are stopped in reverse order
// with SIGTERM, then SIGKILL after the pod's grace period.

// Pod describes what to run.
type Pod struct {
	Name string
	// Network is a Docker network to join (to reach "services" by alias);
	// "" gives the pod a network of its own.
	Network string
	// Volumes are emptyDir volumes, referred to by these names in mounts.
	Volumes []string
	// MemoryVolumes are emptyDir volumes with medium: Memory (tmpfs).
	MemoryVolumes  []string
	InitContainers []Container
	// Containers are the main containers; they run to completion.
	Containers []Container
	// Timeout bounds each container's run (default 2m).
	Timeout time.Duration
	// TerminationGracePeriod is how long a sidecar has between SIGTERM and
	// SIGKILL when the pod stops (default 30s, as in Kubernetes).
	TerminationGracePeriod time.Duration
	// OnMainStart, if set, is called when the main containers are about to
	// start (every init container done, every sidecar started).
	OnMainStart func()
}

// Probe is an HTTP GET probe on the pod's network namespace, as the kubelet
// sends to the pod's IP.
type Probe struct {
	Path string
	Port int
	// Period between tries (default 1s, the shortest Kubernetes takes);
	// FailureThreshold tries before the probe fails (default 3).
	Period           time.Duration
	FailureThreshold int
}

// Container is one container of a pod, in Kubernetes terms.
type Container struct {
	Name    string
	Image   string
	Command []string // overrides the image's ENTRYPOINT (k8s command)
	Args    []string // overrides CMD (k8s args)
	Env     map[string]string
	// VolumeMounts maps a pod volume name to a mount path.
	VolumeMounts map[string]string
	// Restricted applies the Kubernetes "restricted" security profile:
	// read-only root filesystem, all capabilities dropped,
	// no-new-privileges, and (unless User says otherwise) the image's user.
	Restricted bool
	// User overrides the image's user ("uid:gid").
	User string
	// CapAdd adds capabilities (after Restricted dropped them all).
	CapAdd []string
	// ExposedPorts are published on the host, for the test to reach a
	// service ("8200/tcp").
	ExposedPorts []string
	// MemoryLimit is resources.limits.memory in bytes (0: none); swap is
	// not allowed beyond it, as on a Kubernetes node.
	MemoryLimit int64
	// RestartPolicy "Always" on an init container makes it a native
	// sidecar.
	RestartPolicy string
	// StartupProbe holds the next container until it passes (sidecars).
	StartupProbe *Probe
}

// Status is what the harness recorded about one container.
type Status struct {
	Name                  string
	Ran                   bool
	ExitCode              int
	Logs                  string
	TerminationMessage    string
	StartedAt, FinishedAt time.Time
	// As Docker ran it.
	User           string
	ReadonlyRootfs bool
	CapDrop        []string
	// Sidecars: when the startup probe passed (zero: never), how often the
	// container was restarted, and whether the pod's stop had to SIGKILL it.
	Sidecar    bool
	StartedOK  time.Time
	Restarts   int
	Killed     bool
	ProbeError string
}

// PodStatus holds the statuses of a pod's containers, in order.
type PodStatus struct {
	Init, Main []Status
}

// InitSucceeded fails the test unless every init container exited 0, as a
// pod must before its main containers count.
func (p *PodStatus) InitSucceeded(t testing.TB) {
	t.Helper()
	for _, s := range p.Init {
		if s.ExitCode != 0 {
			t.Fatalf("%s exited %d:\n%s", s.Name, s.ExitCode, s.Logs)
		}
	}
}

// Get returns the status of the container called name.
func (p *PodStatus) Get(t testing.TB, name string) Status {
	t.Helper()
	for _, s := range append(append([]Status{}, p.Init...), p.Main...) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no container %q in the pod", name)
	return Status{}
}

var seq atomic.Int64

// unique returns a name no other test of this run uses.
func unique(prefix string) string {
	return fmt.Sprintf("ib-%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// NewNetwork creates a Docker network removed when the test ends.
func NewNetwork(t testing.TB) string {
	t.Helper()
	nw, err := network.New(t.Context())
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("creating network: %v", err)
	}
	return nw.Name
}

// Service starts a long-running container on a network under an alias, like
// a Kubernetes Service in front of another pod. It is removed when the test
// ends.
func Service(t testing.TB, networkName, alias string, c Container) testcontainers.Container {
	t.Helper()
	return serviceWithVolumes(t, networkName, alias, c, nil)
}

func serviceWithVolumes(t testing.TB, networkName, alias string, c Container, volumes map[string]string) testcontainers.Container {
	t.Helper()
	req := request(c)
	for vol, path := range c.VolumeMounts {
		req.Mounts = append(req.Mounts, testcontainers.VolumeMount(volumes[vol], testcontainers.ContainerMountTarget(path)))
	}
	req.Networks = []string{networkName}
	req.NetworkAliases = map[string][]string{networkName: {alias}}
	ctr, err := testcontainers.GenericContainer(t.Context(), testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	testcontainers.CleanupContainer(t, ctr, testcontainers.StopTimeout(0))
	if err != nil {
		t.Fatalf("starting service %s: %v", alias, err)
	}
	return ctr
}

// RunPod runs a pod to completion and returns what happened. Containers,
// volumes and networks are removed when the test ends, pass or fail.
func RunPod(t testing.TB, pod Pod) *PodStatus {
	t.Helper()
	ctx := t.Context()
	if pod.Timeout == 0 {
		pod.Timeout = 2 * time.Minute
	}
	if pod.Network == "" {
		pod.Network = NewNetwork(t)
	}
	volumes := map[string]string{}
	for _, v := range pod.Volumes {
		volumes[v] = emptyDir(t, v, false)
	}
	for _, v := range pod.MemoryVolumes {
		volumes[v] = emptyDir(t, v, true)
	}

	// The pause container also holds every memory volume: Docker mounts a
	// tmpfs volume per use and drops it when no container holds it, while
	// the kubelet keeps a medium: Memory emptyDir for the pod's life. It
	// also publishes the sidecars' probe ports, for the harness to probe.
	pause := Container{Name: "pause", Image: images.testbin, Args: []string{"pause"}, VolumeMounts: map[string]string{}}
	for _, v := range pod.MemoryVolumes {
		pause.VolumeMounts[v] = "/volumes/" + v
	}
	for _, c := range pod.InitContainers {
		if c.StartupProbe != nil {
			pause.ExposedPorts = append(pause.ExposedPorts, fmt.Sprintf("%d/tcp", c.StartupProbe.Port))
		}
	}
	pauseCtr := serviceWithVolumes(t, pod.Network, pod.Name, pause, volumes)
	netns := container.NetworkMode("container:" + pauseCtr.GetContainerID())

	st := &PodStatus{}
	var sidecars []*sidecar
	// The sidecars stop after the main containers, in reverse order, also
	// when an init container failed.
	stopSidecars := func() {
		for i := len(sidecars) - 1; i >= 0; i-- {
			sc := sidecars[i]
			st.Init[sc.index] = sc.stop(t, pod.grace())
		}
	}
	for _, c := range pod.InitContainers {
		if c.RestartPolicy == "Always" {
			sc := startSidecar(t, ctx, c, netns, volumes, pauseCtr)
			sc.index = len(st.Init)
			sidecars = append(sidecars, sc)
			st.Init = append(st.Init, Status{Name: c.Name, Ran: true, Sidecar: true})
			if err := sc.started(ctx); err != nil {
				stopSidecars()
				st.Init[sc.index].ProbeError = err.Error()
				t.Logf("sidecar %s: %v: the pod stops here", c.Name, err)
				for _, m := range pod.Containers {
					st.Main = append(st.Main, Status{Name: m.Name})
				}
				return st
			}
			continue
		}
		s := runToCompletion(t, ctx, c, netns, volumes, pod.Timeout)
		st.Init = append(st.Init, s)
		if s.ExitCode != 0 {
			t.Logf("init container %s exited %d: the pod stops here (Init:Error)", c.Name, s.ExitCode)
			stopSidecars()
			for _, m := range pod.Containers {
				st.Main = append(st.Main, Status{Name: m.Name})
			}
			return st
		}
	}
	if pod.OnMainStart != nil {
		pod.OnMainStart()
	}
	for _, c := range pod.Containers {
		st.Main = append(st.Main, runToCompletion(t, ctx, c, netns, volumes, pod.Timeout))
	}
	stopSidecars()
	return st
}

func (p Pod) grace() time.Duration {
	if p.TerminationGracePeriod > 0 {
		return p.TerminationGracePeriod
	}
	return 30 * time.Second
}

// sidecar is a running native sidecar.
type sidecar struct {
	c         Container
	ctr       testcontainers.Container
	probeURL  string
	index     int
	startedOK time.Time
}

// startSidecar starts c with Docker's restart policy "always" (restarted
// whenever it exits, until stopped), in the pod's namespace.
func startSidecar(t testing.TB, ctx context.Context, c Container, netns container.NetworkMode, volumes map[string]string, pause testcontainers.Container) *sidecar {
	t.Helper()
	req := containerRequest(t, c, netns, volumes)
	modify := req.HostConfigModifier
	req.HostConfigModifier = func(hc *container.HostConfig) {
		modify(hc)
		hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyAlways}
	}
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req.ContainerRequest, Started: true})
	testcontainers.CleanupContainer(t, ctr, testcontainers.StopTimeout(0))
	if err != nil {
		t.Fatalf("starting sidecar %s: %v", c.Name, err)
	}
	sc := &sidecar{c: c, ctr: ctr}
	if p := c.StartupProbe; p != nil {
		endpoint, err := pause.PortEndpoint(ctx, nat(p.Port), "http")
		if err != nil {
			t.Fatal(err)
		}
		sc.probeURL = endpoint + p.Path
	}
	t.Logf("%s: sidecar started", c.Name)
	return sc
}

func nat(port int) string { return fmt.Sprintf("%d/tcp", port) }

// started waits for the startup probe, as the kubelet does before it starts
// the next container: a 2xx or 3xx answer within Period×FailureThreshold.
func (sc *sidecar) started(ctx context.Context) error {
	p := sc.c.StartupProbe
	if p == nil {
		sc.startedOK = time.Now()
		return nil
	}
	period, tries := p.Period, p.FailureThreshold
	if period == 0 {
		period = time.Second
	}
	if tries == 0 {
		tries = 3
	}
	client := &http.Client{Timeout: period}
	var last string
	for i := 0; i < tries; i++ {
		resp, err := client.Get(sc.probeURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 400 {
				sc.startedOK = time.Now()
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(period):
		}
	}
	return fmt.Errorf("startup probe %s failed %d times (last: %s)", p.Path, tries, last)
}

// stop sends SIGTERM, then SIGKILL after grace, and reports the sidecar.
func (sc *sidecar) stop(t testing.TB, grace time.Duration) Status {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	if err := sc.ctr.Stop(ctx, &grace); err != nil {
		t.Errorf("stopping sidecar %s: %v", sc.c.Name, err)
	}
	took := time.Since(start)
	info, err := sc.ctr.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := Status{Name: sc.c.Name, Ran: true, Sidecar: true, ExitCode: info.State.ExitCode, Logs: readLogs(ctx, sc.ctr),
		User: info.Config.User, ReadonlyRootfs: info.HostConfig.ReadonlyRootfs, CapDrop: info.HostConfig.CapDrop,
		StartedOK: sc.startedOK, Restarts: info.RestartCount}
	s.StartedAt, _ = time.Parse(time.RFC3339Nano, info.State.StartedAt)
	s.FinishedAt, _ = time.Parse(time.RFC3339Nano, info.State.FinishedAt)
	// Docker answers 137 for a SIGKILL; a process that exits on SIGTERM
	// within the grace period has its own code.
	s.Killed = info.State.ExitCode == 137 && took >= grace
	t.Logf("%s: sidecar stopped after %v: exit %d, %d restarts", sc.c.Name, took.Round(time.Millisecond), s.ExitCode, s.Restarts)
	return s
}

// emptyDir creates a Docker volume with the mode the kubelet gives an
// emptyDir (0777), so that non-root containers can write to it; with memory,
// a tmpfs, as for medium: Memory.
func emptyDir(t testing.TB, name string, memory bool) string {
	t.Helper()
	vol := unique("vol-" + name)
	cli, err := testcontainers.NewDockerClientWithOpts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	opts := client.VolumeCreateOptions{Name: vol, Driver: "local"}
	if memory {
		// Mounted anew by the pause container, with the emptyDir's mode.
		opts.DriverOpts = map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=16m,mode=0777"}
	}
	if _, err := cli.VolumeCreate(t.Context(), opts); err != nil {
		t.Fatalf("creating volume %s: %v", name, err)
	}
	if memory {
		return vol
	}
	t.Cleanup(func() {
		// Registered before any container that mounts it, so it runs after
		// they are removed.
		if _, err := cli.VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true}); err != nil {
			t.Logf("removing volume %s: %v", vol, err)
		}
		cli.Close()
	})
	s := runToCompletion(t, t.Context(), Container{
		Name: "chmod-" + name, Image: images.busybox, Args: []string{"-c", "chmod 0777 /v"}, User: "0:0",
		VolumeMounts: map[string]string{name: "/v"},
	}, "", map[string]string{name: vol}, time.Minute)
	if s.ExitCode != 0 {
		t.Fatalf("preparing volume %s: exit %d: %s", name, s.ExitCode, s.Logs)
	}
	return vol
}

func request(c Container) testcontainers.ContainerRequest {
	req := testcontainers.ContainerRequest{
		Name:         unique(c.Name),
		Image:        c.Image,
		Entrypoint:   c.Command,
		Cmd:          c.Args,
		Env:          c.Env,
		ExposedPorts: c.ExposedPorts,
		ConfigModifier: func(cfg *container.Config) {
			if c.User != "" {
				cfg.User = c.User
			}
		},
	}
	return req
}

func runToCompletion(t testing.TB, ctx context.Context, c Container, netns container.NetworkMode, volumes map[string]string, timeout time.Duration) Status {
	t.Helper()
	req := containerRequest(t, c, netns, volumes)
	req.WaitingFor = wait.ForExit().WithExitTimeout(timeout)
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req.ContainerRequest, Started: true})
	testcontainers.CleanupContainer(t, ctr, testcontainers.StopTimeout(0))
	if err != nil {
		logs := ""
		if ctr != nil {
			logs = readLogs(ctx, ctr)
		}
		t.Fatalf("running %s: %v\n%s", c.Name, err, logs)
	}
	info, err := ctr.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := Status{
		Name:           c.Name,
		Ran:            true,
		ExitCode:       info.State.ExitCode,
		Logs:           readLogs(ctx, ctr),
		User:           info.Config.User,
		ReadonlyRootfs: info.HostConfig.ReadonlyRootfs,
		CapDrop:        info.HostConfig.CapDrop,
	}
	s.StartedAt, _ = time.Parse(time.RFC3339Nano, info.State.StartedAt)
	s.FinishedAt, _ = time.Parse(time.RFC3339Nano, info.State.FinishedAt)
	msg, _ := os.ReadFile(req.termLog)
	s.TerminationMessage = string(msg)
	t.Logf("%s: exit %d after %v", c.Name, s.ExitCode, s.FinishedAt.Sub(s.StartedAt).Round(time.Millisecond))
	return s
}

func readLogs(ctx context.Context, ctr testcontainers.Container) string {
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return "(logs: " + err.Error() + ")"
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return strings.TrimSpace(string(b))
}

// podRequest is a container's request in the pod: its volumes, the pod's
// network namespace, its termination log and security profile.
type podRequest struct {
	testcontainers.ContainerRequest
	termLog string
}

func containerRequest(t testing.TB, c Container, netns container.NetworkMode, volumes map[string]string) podRequest {
	t.Helper()
	termLog := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(termLog, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(termLog, 0o666) // the umask must not keep a non-root container out
	req := request(c)
	for vol, path := range c.VolumeMounts {
		name, ok := volumes[vol]
		if !ok {
			t.Fatalf("container %s mounts unknown volume %q", c.Name, vol)
		}
		req.Mounts = append(req.Mounts, testcontainers.VolumeMount(name, testcontainers.ContainerMountTarget(path)))
	}
	req.HostConfigModifier = func(hc *container.HostConfig) {
		if netns != "" {
			hc.NetworkMode = netns
		}
		hc.Binds = append(hc.Binds, termLog+":/dev/termination-log")
		if c.Restricted {
			hc.ReadonlyRootfs = true
			hc.CapDrop = []string{"ALL"}
			hc.SecurityOpt = []string{"no-new-privileges"}
		}
		hc.CapAdd = c.CapAdd
		if c.MemoryLimit > 0 {
			hc.Memory, hc.MemorySwap = c.MemoryLimit, c.MemoryLimit
		}
	}
	return podRequest{req, termLog}
}
