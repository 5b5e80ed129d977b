package testserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testlog"
)

// KubeNode is a real node for a Kube: kube-controller-manager and
// kube-scheduler, containerd with its CRI plugin (runc, the CNI bridge
// plugin from Debian), and a kubelet — built from their modules by `make
// node` — on a bridge of its own (ipMasq off, a /24 inside the machine).
// Nothing can be pulled: images are imported from Docker (Import) and pods
// name them with imagePullPolicy Never or IfNotPresent.
type KubeNode struct {
	k                        *Kube
	t                        testing.TB
	dir, bin                 string
	Name                     string
	Bridge, Subnet, Gateway  string // the pods' bridge, its /24 and the node's address on it
	containerd, kubelet      *proc
	scheduler, controllerMgr *proc
	sysctls                  map[string]string // what the kubelet changes, restored at the end
	nat                      []string          // the DNAT rule to the API relay
}

// The bridge the pods are on: private, not routed anywhere.
const (
	nodeBridge  = "ibnode0"
	nodeSubnet  = "10.244.77.0/24"
	nodeGateway = "10.244.77.1"
)

// StartNode starts the controllers and a node; everything is stopped, and
// the bridge, the forward rule, the mounts and the sysctls the kubelet
// changed are undone, when the test ends.
func (k *Kube) StartNode(t testing.TB) *KubeNode {
	t.Helper()
	n := &KubeNode{k: k, t: t, dir: shortTempDir(t), Name: "node-1", Bridge: nodeBridge, Subnet: nodeSubnet, Gateway: nodeGateway}
	n.bin = filepath.Dir(KubeBinary(t, "kubelet"))
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(n.bin, b)); err != nil {
			t.Fatalf("no %s in %s: run `make node`", b, n.bin)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatal("no runc: install runc (make deps-test)")
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Fatal("no CNI plugins: install containernetworking-plugins (make deps-test)")
	}
	n.sysctls = map[string]string{}
	for _, s := range []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"} {
		if b, err := os.ReadFile("/proc/sys/" + s); err == nil {
			n.sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	t.Cleanup(n.stop)
	admin := k.Kubeconfig(k.AdminToken, "default", "")
	n.controllerMgr = startProc(t, filepath.Join(n.bin, "kube-controller-manager"), "--kubeconfig", admin,
		"--authentication-kubeconfig", admin, "--authorization-kubeconfig", admin,
		"--service-account-private-key-file", filepath.Join(k.dir, "sa.key"), "--root-ca-file", k.CAFile,
		"--use-service-account-credentials=false", "--leader-elect=false", "--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(freePort(t)), "--controllers", "*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle", "--v", "0")
	n.scheduler = startProc(t, filepath.Join(n.bin, "kube-scheduler"), "--kubeconfig", admin,
		"--authentication-kubeconfig", admin, "--authorization-kubeconfig", admin,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(freePort(t)), "--v", "0")
	// The pods' bridge, made now so that servers of the test can listen on
	// the node's address; the CNI plugin takes it as it finds it.
	for _, args := range [][]string{{"link", "add", n.Bridge, "type", "bridge"}, {"addr", "add", n.Gateway + "/24", "dev", n.Bridge}, {"link", "set", n.Bridge, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	n.relayAPI()
	n.startContainerd()
	n.startKubelet(admin)
	return n
}

// relayAPI lets the pods reach the API server as in a cluster: the
// kubernetes Service's address (10.96.0.1:443, what the kubelet puts in
// KUBERNETES_SERVICE_HOST) is forwarded to a relay on the node's address,
// which connects to the API server on loopback. kube-proxy would need the
// API server's advertised address to be reachable; this needs one rule.
func (n *KubeNode) relayAPI() {
	t := n.t
	ln, err := net.Listen("tcp", n.Gateway+":6443")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", n.k.Addr())
				if err != nil {
					return
				}
				defer out.Close()
				go io.Copy(out, in)
				io.Copy(in, out)
			}()
		}
	}()
	n.nat = []string{"-t", "nat", "PREROUTING", "-i", n.Bridge, "-d", "10.96.0.1", "-p", "tcp", "--dport", "443", "-j", "DNAT", "--to-destination", n.Gateway + ":6443"}
	if out, err := exec.Command("iptables", append([]string{"-t", "nat", "-I"}, n.nat[2:]...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables DNAT to the API relay: %v: %s", err, out)
	}
}

// shortTempDir is a temp directory with a short path: a unix socket's path
// is limited to 108 bytes.
func shortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "ibk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (n *KubeNode) sock() string { return filepath.Join(n.dir, "containerd.sock") }

func (n *KubeNode) startContainerd() {
	t := n.t
	t.Helper()
	cniConf := filepath.Join(n.dir, "cni")
	os.MkdirAll(cniConf, 0o755)
	conf, _ := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": "initbox-node", "plugins": []any{
		map[string]any{"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": false,
			"ipam": map[string]any{"type": "host-local", "dataDir": filepath.Join(n.dir, "ipam"),
				"ranges": []any{[]any{map[string]any{"subnet": n.Subnet, "gateway": n.Gateway}}}, "routes": []any{map[string]any{"dst": "0.0.0.0/0"}}}},
		map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}}}})
	os.WriteFile(filepath.Join(cniConf, "10-initbox.conflist"), conf, 0o644)
	out, err := exec.Command(filepath.Join(n.bin, "containerd"), "config", "default").Output()
	if err != nil {
		t.Fatalf("containerd config default: %v", err)
	}
	cfg := string(out)
	replace := func(old, new string) {
		if !strings.Contains(cfg, old) {
			t.Fatalf("containerd's default config has no %q: its format changed", old)
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	replace("root = '/var/lib/containerd'", "root = '"+filepath.Join(n.dir, "root")+"'")
	replace("state = '/run/containerd'", "state = '"+filepath.Join(n.dir, "state")+"'")
	replace("address = '/run/containerd/containerd.sock'", "address = '"+n.sock()+"'")
	// Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails
	// ("can't get final child's PID from pipe").
	replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true")
	replace("bin_dirs = ['/opt/cni/bin']", "bin_dirs = ['/usr/lib/cni']")
	replace("conf_dir = '/etc/cni/net.d'", "conf_dir = '"+cniConf+"'")
	replace("sandbox = 'registry.k8s.io/pause:", "sandbox = 'initbox-pause:dev' # was registry.k8s.io/pause:")
	path := filepath.Join(n.dir, "containerd.toml")
	os.WriteFile(path, []byte(cfg), 0o644)
	cmd := exec.Command(filepath.Join(n.bin, "containerd"), "--config", path)
	cmd.Env = append(os.Environ(), "PATH="+n.bin+":"+os.Getenv("PATH"))
	n.containerd = startCmd(t, cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := exec.Command(filepath.Join(n.bin, "ctr"), "--address", n.sock(), "version").Run(); err == nil {
			return
		}
		select {
		case <-n.containerd.exited:
			t.Fatalf("containerd exited:\n%s", tail(n.containerd.logs.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not come up:\n%s", tail(n.containerd.logs.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startCmd(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	pr := &proc{logs: &testlog.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = pr.logs, pr.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", filepath.Base(cmd.Path), err)
	}
	pr.p = cmd.Process
	go func() { cmd.Wait(); close(pr.exited) }()
	return pr
}

// Import copies Docker images into the node's containerd (nothing can be
// pulled here).
func (n *KubeNode) Import(images ...string) {
	n.t.Helper()
	save := exec.Command("docker", append([]string{"save"}, images...)...)
	imp := exec.Command(filepath.Join(n.bin, "ctr"), "--address", n.sock(), "-n", "k8s.io", "images", "import", "--all-platforms", "-")
	pipe, err := save.StdoutPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	imp.Stdin = pipe
	var out strings.Builder
	imp.Stdout, imp.Stderr = &out, &out
	if err := save.Start(); err != nil {
		n.t.Fatal(err)
	}
	if err := imp.Run(); err != nil {
		n.t.Fatalf("ctr images import %v: %v\n%s", images, err, out.String())
	}
	if err := save.Wait(); err != nil {
		n.t.Fatalf("docker save %v: %v", images, err)
	}
}

func (n *KubeNode) startKubelet(kubeconfig string) {
	t := n.t
	t.Helper()
	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix://%s
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
failSwapOn: false
resolvConf: ""
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
serializeImagePulls: false
protectKernelDefaults: false
podLogsDir: %s
`, n.sock(), freePort(t), filepath.Join(n.dir, "pod-logs"))
	path := filepath.Join(n.dir, "kubelet.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	cmd := exec.Command(filepath.Join(n.bin, "kubelet"), "--config", path, "--kubeconfig", kubeconfig,
		"--root-dir", filepath.Join(n.dir, "kubelet"), "--cert-dir", filepath.Join(n.dir, "kubelet-pki"),
		"--hostname-override", n.Name, "--node-ip", n.Gateway, "--v", "1")
	cmd.Env = append(os.Environ(), "PATH="+n.bin+":"+os.Getenv("PATH"))
	n.kubelet = startCmd(t, cmd)
	// The bridge the pods will use (the CNI plugin makes it with the first
	// pod; the node's address needs it now) and the forward rule Docker's
	// DROP policy would otherwise refuse.
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body, err := n.k.do(http.MethodGet, "/api/v1/nodes/"+n.Name, nil)
		if err == nil && code == http.StatusOK && strings.Contains(string(body), `"type":"Ready","status":"True"`) {
			break
		}
		select {
		case <-n.kubelet.exited:
			t.Fatalf("kubelet exited:\n%s", tail(n.kubelet.logs.String(), 6000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not Ready after 60 s:\n%s\n--- containerd:\n%s", tail(n.kubelet.logs.String(), 6000), tail(n.containerd.logs.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, dir := range []string{"-i", "-o"} {
		exec.Command("iptables", "-I", "FORWARD", dir, n.Bridge, "-j", "ACCEPT").Run()
	}
}

// ContainerLog is what a container of a pod wrote, read from the kubelet's
// log files (the CRI format: time, stream, tag, line).
func (n *KubeNode) ContainerLog(ns, pod, container string) string {
	n.t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.dir, "pod-logs", ns+"_"+pod+"_*", container, "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(data), "\n") {
			if parts := strings.SplitN(line, " ", 4); len(parts) == 4 {
				b.WriteString(parts[3])
				if parts[2] == "F" {
					b.WriteByte('\n')
				}
			}
		}
	}
	return b.String()
}

// Logs are the kubelet's and containerd's logs.
func (n *KubeNode) Logs() string {
	return "--- kubelet:\n" + tail(n.kubelet.logs.String(), 8000) + "\n--- containerd:\n" + tail(n.containerd.logs.String(), 4000)
}

func (n *KubeNode) stop() {
	// The pods first (their containers are the kubelet's), then the rest.
	n.k.do(http.MethodDelete, "/api/v1/nodes/"+n.Name, nil)
	n.kubelet.stop()
	if n.containerd != nil && n.containerd.p != nil {
		// Containers outlive containerd: kill the shims' tasks.
		out, _ := exec.Command(filepath.Join(n.bin, "ctr"), "--address", n.sock(), "-n", "k8s.io", "tasks", "ls", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command(filepath.Join(n.bin, "ctr"), "--address", n.sock(), "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id).Run()
		}
	}
	n.containerd.stop()
	exec.Command("pkill", "-f", "containerd-shim-runc-v2 -namespace k8s.io -id .* -address "+n.sock()).Run()
	n.scheduler.stop()
	n.controllerMgr.stop()
	// Mounts under the node's directories, deepest first.
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		var mounts []string
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], n.dir) {
				mounts = append(mounts, f[1])
			}
		}
		for i := len(mounts) - 1; i >= 0; i-- {
			syscall.Unmount(mounts[i], syscall.MNT_DETACH)
		}
	}
	for _, dir := range []string{"-i", "-o"} {
		exec.Command("iptables", "-D", "FORWARD", dir, n.Bridge, "-j", "ACCEPT").Run()
	}
	if n.nat != nil {
		exec.Command("iptables", append([]string{"-t", "nat", "-D"}, n.nat[2:]...)...).Run()
	}
	exec.Command("ip", "link", "delete", n.Bridge).Run()
	// The kubelet links every container's log into /var/log/containers.
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if dst, err := os.Readlink(l); err == nil && strings.HasPrefix(dst, n.dir) {
			os.Remove(l)
		}
	}
	for s, v := range n.sysctls {
		os.WriteFile("/proc/sys/"+s, []byte(v), 0o644)
	}
}
