//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testserver"
)

// The benchmarks behind `make bench` (-benchtime 1x: each takes its own
// fixed number of samples and reports medians, so b.N does not matter).

// Size budgets: every dependency is a cost in the image everyone pulls.
// 12 MiB held wait with its database, gRPC and Kubernetes checkers; fetch
// brought the Vault client (+1.4 MB, 16 MiB) and then aws-sdk-go-v2 (+8.7
// MiB: the S3 client's generated operations all stay linked, because
// text/template's dynamic method calls turn off the linker's dead-method
// elimination), so the budget is 24 MiB. Each heavy checker or source can be
// compiled out (BenchmarkCheckerCost); without S3 the binary is 13 MiB.
// seed's git source (go-git: no git binary in the image) adds ~4 MiB: 28 MiB.
const (
	binaryBudget = 28 << 20
	imageBudget  = 28 << 20
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
		for _, c := range []string{"postgres", "mysql", "redis", "grpc", "k8s", "vault", "s3", "git"} {
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

// BenchmarkS3 runs initbox fetch, the AWS CLI v2 and rclone side by side
// against the same MinIO on loopback: one 1 GiB object (with a stored
// CRC64NVME checksum, and again with only an MD5 ETag), and 1,000 objects of
// 64 KiB. Each tool runs with its defaults, three times in turn after a
// sync; it reports each tool's best throughput and peak RSS, and initbox's
// speed relative to the others.
func BenchmarkS3(b *testing.B) {
	for _, tool := range []string{"/usr/bin/aws", "rclone", "/usr/bin/time"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is not installed (apt-get install awscli rclone time): %v", tool, err)
		}
	}
	m := testserver.StartMinIO(b, testserver.MinIOOptions{})
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testserver.MinIOUser, testserver.MinIOPassword, "")})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	const big = 1 << 30
	f, err := os.CreateTemp(b.TempDir(), "big")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, big); err != nil {
		b.Fatal(err)
	}
	// Two copies of the big object: one with the full-object CRC64NVME
	// checksum S3 stores for every new object (initbox verifies ranged
	// downloads with it), one with only an MD5 ETag (initbox falls back to
	// MD5, the slowest hash), as an upload over plain HTTP leaves it.
	for key, algo := range map[string]types.ChecksumAlgorithm{"big.bin": types.ChecksumAlgorithmCrc64nvme, "big-md5.bin": ""} {
		f.Seek(0, io.SeekStart)
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(key), Body: f, ChecksumAlgorithm: algo}); err != nil {
			b.Fatal(err)
		}
	}
	small := make([]byte, 64<<10)
	for i := range 1000 {
		rand.Read(small)
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("many/%02d/obj-%04d", i%10, i)),
			Body: bytes.NewReader(small)}); err != nil {
			b.Fatal(err)
		}
	}
	// The same environment for every tool, without a custom CA bundle (the
	// endpoint is plain HTTP on loopback; rclone refuses AWS_CA_BUNDLE).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_ACCESS_KEY_ID="+testserver.MinIOUser, "AWS_SECRET_ACCESS_KEY="+testserver.MinIOPassword,
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"RCLONE_CONFIG_MINIO_TYPE=s3", "RCLONE_CONFIG_MINIO_PROVIDER=Minio", "RCLONE_CONFIG_MINIO_ENDPOINT="+m.Endpoint,
		"RCLONE_CONFIG_MINIO_ACCESS_KEY_ID="+testserver.MinIOUser, "RCLONE_CONFIG_MINIO_SECRET_ACCESS_KEY="+testserver.MinIOPassword)
	type workload struct {
		name  string
		bytes int64
		cmds  map[string]func(out string) []string
	}
	workloads := []workload{
		{"1GiB-object", big, map[string]func(string) []string{
			"initbox": func(out string) []string {
				return []string{binaryPath(), "fetch", "s3://bench/big.bin", "--out", out + "/big.bin", "--s3-endpoint", m.Endpoint}
			},
			"aws-cli": func(out string) []string {
				return []string{"/usr/bin/aws", "s3", "cp", "--endpoint-url", m.Endpoint, "--no-progress", "s3://bench/big.bin", out + "/big.bin"}
			},
			"rclone": func(out string) []string { return []string{"rclone", "copy", "minio:bench/big.bin", out} },
		}},
		{"1GiB-object-md5-etag-only", big, map[string]func(string) []string{
			"initbox": func(out string) []string {
				return []string{binaryPath(), "fetch", "s3://bench/big-md5.bin", "--out", out + "/big.bin", "--s3-endpoint", m.Endpoint}
			},
			"aws-cli": func(out string) []string {
				return []string{"/usr/bin/aws", "s3", "cp", "--endpoint-url", m.Endpoint, "--no-progress", "s3://bench/big-md5.bin", out + "/big.bin"}
			},
			"rclone": func(out string) []string { return []string{"rclone", "copy", "minio:bench/big-md5.bin", out} },
		}},
		{"1000x64KiB", 1000 * 64 << 10, map[string]func(string) []string{
			"initbox": func(out string) []string {
				return []string{binaryPath(), "fetch", "s3://bench/many/", "--out", out + "/many/", "--s3-endpoint", m.Endpoint}
			},
			"aws-cli": func(out string) []string {
				return []string{"/usr/bin/aws", "s3", "sync", "--endpoint-url", m.Endpoint, "--no-progress", "s3://bench/many/", out + "/many"}
			},
			"rclone": func(out string) []string { return []string{"rclone", "copy", "minio:bench/many", out + "/many"} },
		}},
	}
	rssRE := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			best := map[string]time.Duration{}
			rss := map[string]int64{}
			for b.Loop() {
				for rep := range 3 {
					for _, tool := range []string{"initbox", "aws-cli", "rclone"} {
						out := filepath.Join(b.TempDir(), fmt.Sprintf("%s-%d", tool, rep))
						os.MkdirAll(out, 0o755)
						syscall.Sync() // no tool inherits another's writeback
						args := append([]string{"-v"}, w.cmds[tool](out)...)
						cmd := exec.Command("/usr/bin/time", args...)
						cmd.Env = env
						start := time.Now()
						outb, err := cmd.CombinedOutput()
						took := time.Since(start)
						if err != nil {
							b.Fatalf("%s: %v\n%s", tool, err, outb)
						}
						if d, ok := best[tool]; !ok || took < d {
							best[tool] = took
						}
						if m := rssRE.FindSubmatch(outb); m != nil {
							kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
							rss[tool] = max(rss[tool], kb)
						}
						os.RemoveAll(out)
					}
				}
			}
			for _, tool := range []string{"initbox", "aws-cli", "rclone"} {
				b.ReportMetric(float64(w.bytes)/best[tool].Seconds()/(1<<20), tool+"-MiB/s")
				b.ReportMetric(float64(rss[tool])/1024, tool+"-peak-RSS-MiB")
			}
			b.ReportMetric(best["aws-cli"].Seconds()/best["initbox"].Seconds(), "x-faster-than-aws")
			b.ReportMetric(best["rclone"].Seconds()/best["initbox"].Seconds(), "x-faster-than-rclone")
		})
	}
}

// BenchmarkRender renders the same 1,000 templates with one shared values
// file with initbox render, helm template (--output-dir) and consul-template
// (-once, the engine inside Vault Agent), each in its own syntax for the
// same output; and 1,000 ${VAR} files with initbox render --envsubst and
// GNU envsubst (one process per file, as scripts run it). Output on disk
// (TempDir) and on tmpfs (an emptyDir with medium: Memory). Best of 5, after
// a sync.
func BenchmarkRender(b *testing.B) {
	helm, ct := filepath.Join(repoRoot, "build/peers/helm"), filepath.Join(repoRoot, "build/peers/consul-template")
	for _, tool := range []string{helm, ct, "envsubst"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is missing (make peers; apt-get install gettext-base): %v", tool, err)
		}
	}
	src := b.TempDir()
	values := filepath.Join(src, "values.yaml")
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(os.WriteFile(values, []byte("app: {name: shop}\nreplicas: 3\nimage: {repo: registry.example/shop, tag: \"1.4.2\"}\n"+
		"env: {LOG_LEVEL: info, REGION: eu-west-1, FEATURE_X: \"on\", TIMEOUT: \"30s\"}\n"), 0o644))
	for _, d := range []string{"initbox", "chart/templates", "ct", "envsubst"} {
		must(os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(src, "chart/Chart.yaml"), []byte("apiVersion: v2\nname: bench\nversion: 0.1.0\n"), 0o644))
	vb, _ := os.ReadFile(values)
	must(os.WriteFile(filepath.Join(src, "chart/values.yaml"), vb, 0o644))
	var ctArgs []string
	for i := range 1000 {
		body := fmt.Sprintf("name: {{ .app.name }}-%04d\nreplicas: {{ .replicas }}\nimage: {{ .image.repo }}:{{ .image.tag }}\nenv:\n"+
			"{{- range $k, $v := .env }}\n  {{ $k }}: \"{{ $v }}\"\n{{- end }}\n", i)
		name := fmt.Sprintf("c%04d.yaml", i)
		must(os.WriteFile(filepath.Join(src, "initbox", name+".tmpl"), []byte("{{ with .Values }}"+body+"{{ end }}"), 0o644))
		must(os.WriteFile(filepath.Join(src, "chart/templates", name), []byte("{{ with .Values }}"+body+"{{ end }}"), 0o644))
		must(os.WriteFile(filepath.Join(src, "ct", name+".tmpl"), []byte(`{{ with file "`+values+`" | parseYAML }}`+body+"{{ end }}"), 0o644))
		must(os.WriteFile(filepath.Join(src, "envsubst", fmt.Sprintf("site%04d.conf.tmpl", i)),
			[]byte(fmt.Sprintf("server {\n  listen ${APP_PORT};\n  server_name ${APP_HOST}-%d;\n  root ${APP_ROOT};\n  location / { proxy_pass http://$host; }\n}\n", i)), 0o644))
		ctArgs = append(ctArgs, "-template", filepath.Join(src, "ct", name+".tmpl")+":"+filepath.Join("OUT", name))
	}
	env := append(os.Environ(), "APP_PORT=8080", "APP_HOST=shop", "APP_ROOT=/srv")
	cmds := map[string]func(out string) []string{
		"initbox": func(out string) []string {
			return []string{binaryPath(), "render", filepath.Join(src, "initbox"), "--values", values, "--out", out + "/", "--log-level", "warn"}
		},
		"helm": func(out string) []string {
			return []string{helm, "template", "bench", filepath.Join(src, "chart"), "--output-dir", out}
		},
		"consul-template": func(out string) []string {
			args := []string{ct, "-once", "-log-level", "err"}
			for _, a := range ctArgs {
				args = append(args, strings.Replace(a, "OUT", out, 1))
			}
			return args
		},
		"initbox-envsubst": func(out string) []string {
			return []string{binaryPath(), "render", "--envsubst", filepath.Join(src, "envsubst"), "--out", out + "/", "--env-prefix", "APP_", "--log-level", "warn"}
		},
		"envsubst": func(out string) []string {
			return []string{"sh", "-c", `mkdir -p "$2" && for f in "$1"/*; do n=${f##*/}; envsubst '$APP_PORT $APP_HOST $APP_ROOT' < "$f" > "$2/${n%.tmpl}"; done`, "sh", filepath.Join(src, "envsubst"), out}
		},
	}
	roots := map[string]string{"disk": b.TempDir()}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		shm, err := os.MkdirTemp("/dev/shm", "initbox-bench")
		must(err)
		b.Cleanup(func() { os.RemoveAll(shm) })
		roots["tmpfs"] = shm
	}
	for _, where := range []string{"disk", "tmpfs"} {
		root, ok := roots[where]
		if !ok {
			continue
		}
		b.Run(where, func(b *testing.B) {
			best := map[string]time.Duration{}
			for b.Loop() {
				for rep := range 5 {
					for _, tool := range []string{"initbox", "helm", "consul-template", "initbox-envsubst", "envsubst"} {
						out := filepath.Join(root, fmt.Sprintf("%s-%d", tool, rep))
						syscall.Sync()
						args := cmds[tool](out)
						cmd := exec.Command(args[0], args[1:]...)
						cmd.Env = env
						start := time.Now()
						msg, err := cmd.CombinedOutput()
						took := time.Since(start)
						if err != nil {
							b.Fatalf("%s: %v\n%s", tool, err, msg)
						}
						if n := countFiles(b, out); n != 1000 {
							b.Fatalf("%s wrote %d files, want 1000", tool, n)
						}
						checkRendered(b, tool, out)
						if d, ok := best[tool]; !ok || took < d {
							best[tool] = took
						}
						if where == "disk" {
							b.Cleanup(func() { os.RemoveAll(out) }) // freed inodes slow the next creates (see BenchmarkSeed)
						} else {
							os.RemoveAll(out)
						}
					}
				}
			}
			for tool, d := range best {
				b.ReportMetric(ms(d), tool+"-ms")
			}
			b.ReportMetric(ms(min(best["helm"], best["consul-template"]))/ms(best["initbox"]), "x-faster-than-fastest-template-peer")
			b.ReportMetric(ms(best["envsubst"])/ms(best["initbox-envsubst"]), "x-faster-than-envsubst")
		})
	}
}

// checkRendered compares one output of each tool with what it must be.
func checkRendered(b *testing.B, tool, out string) {
	name, want := "c0007.yaml", "name: shop-0007\nreplicas: 3\nimage: registry.example/shop:1.4.2\nenv:\n  FEATURE_X: \"on\"\n  LOG_LEVEL: \"info\"\n  REGION: \"eu-west-1\"\n  TIMEOUT: \"30s\"\n"
	switch tool {
	case "helm":
		name = "bench/templates/c0007.yaml"
		want = "---\n# Source: bench/templates/c0007.yaml\n" + want
	case "initbox-envsubst", "envsubst":
		name, want = "site0007.conf", "server {\n  listen 8080;\n  server_name shop-7;\n  root /srv;\n  location / { proxy_pass http://$host; }\n}\n"
	}
	got, err := os.ReadFile(filepath.Join(out, name))
	if err != nil || string(got) != want {
		b.Fatalf("%s: %s = %q, %v; want %q", tool, name, got, err, want)
	}
}

// countFiles counts the regular files under dir, following initbox's links.
func countFiles(b *testing.B, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), "..") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// BenchmarkSeed: 10,000 small files (4 KiB, in 100 directories) and one
// 1 GiB file, seeded from a directory against `cp -a`, and from a tar.gz
// against `tar -xzf`; and the disk's own write rate (dd with fsync) in the
// same run; the small files also into tmpfs (an emptyDir with medium:
// Memory). Best of 3 after a sync.
func BenchmarkSeed(b *testing.B) {
	src := b.TempDir()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	small, big := filepath.Join(src, "small"), filepath.Join(src, "big")
	buf := make([]byte, 4096)
	for i := range 10000 {
		d := filepath.Join(small, fmt.Sprintf("d%02d", i%100))
		must(os.MkdirAll(d, 0o755))
		rand.Read(buf)
		must(os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), buf, 0o644))
	}
	must(os.MkdirAll(big, 0o755))
	f, err := os.Create(filepath.Join(big, "big.bin"))
	must(err)
	_, err = io.CopyN(f, rand.Reader, 1<<30)
	must(err)
	f.Close()
	for _, name := range []string{"small", "big"} {
		cmd := exec.Command("tar", "-czf", filepath.Join(src, name+".tar.gz"), "-C", filepath.Join(src, name), ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("tar: %v\n%s", err, out)
		}
	}
	root := b.TempDir()
	shm := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "initbox-seed-bench")
		must(err)
		b.Cleanup(func() { os.RemoveAll(d) })
		shm = d
	}
	run := func(args ...string) time.Duration {
		syscall.Sync()
		start := time.Now()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	for _, w := range []struct {
		name  string
		bytes int64
	}{{"10000x4KiB", 10000 * 4096}, {"1GiB", 1 << 30}} {
		b.Run(w.name, func(b *testing.B) {
			data := filepath.Join(src, map[string]string{"10000x4KiB": "small", "1GiB": "big"}[w.name])
			best := map[string]time.Duration{}
			// ext4 does not reuse an inode freed in the last minutes, and
			// scans past each one when it allocates: whoever runs right
			// after 10,000 files were removed pays for it (cp -a took 5 s
			// of kernel time instead of 0.35 here). So the small files stay
			// until the end, and the tools take turns at going first.
			var later []string
			b.Cleanup(func() {
				for _, d := range later {
					os.RemoveAll(d)
				}
			})
			for b.Loop() {
				for rep := range 3 {
					out := func(tool string) string { return filepath.Join(root, fmt.Sprintf("%s-%s-%d", w.name, tool, rep)) }
					steps := map[string]func() time.Duration{
						"seed-dir": func() time.Duration { return run(binaryPath(), "seed", data, out("seed-dir"), "--log-level", "warn") },
						"cp-a":     func() time.Duration { return run("cp", "-a", data, out("cp-a")) },
						"seed-tgz": func() time.Duration {
							return run(binaryPath(), "seed", data+".tar.gz", out("seed-tgz"), "--log-level", "warn")
						},
						"tar-xzf": func() time.Duration {
							os.MkdirAll(out("tar-xzf"), 0o755)
							return run("tar", "-xzf", data+".tar.gz", "-C", out("tar-xzf"))
						},
					}
					order := []string{"seed-dir", "cp-a", "seed-tgz", "tar-xzf"}
					times := map[string]time.Duration{}
					for i := range order {
						tool := order[(i+rep)%len(order)]
						times[tool] = steps[tool]()
					}
					if w.name == "1GiB" {
						times["dd-fsync"] = run("dd", "if="+filepath.Join(data, "big.bin"), "of="+out("dd-fsync"), "bs=1M", "conv=fsync", "status=none")
					} else if shm != "" {
						// The same small files into an emptyDir with medium:
						// Memory, where durability costs nothing.
						tout := func(tool string) string { return filepath.Join(shm, fmt.Sprintf("%s-%d", tool, rep)) }
						times["seed-dir-tmpfs"] = run(binaryPath(), "seed", data, tout("seed-dir-tmpfs"), "--log-level", "warn")
						times["cp-a-tmpfs"] = run("cp", "-a", data, tout("cp-a-tmpfs"))
						times["seed-tgz-tmpfs"] = run(binaryPath(), "seed", data+".tar.gz", tout("seed-tgz-tmpfs"), "--log-level", "warn")
						os.MkdirAll(tout("tar-tmpfs"), 0o755)
						times["tar-xzf-tmpfs"] = run("tar", "-xzf", data+".tar.gz", "-C", tout("tar-tmpfs"))
						for _, t := range []string{"seed-dir-tmpfs", "cp-a-tmpfs", "seed-tgz-tmpfs", "tar-tmpfs"} {
							os.RemoveAll(tout(t))
						}
					}
					for tool, d := range times {
						if cur, ok := best[tool]; !ok || d < cur {
							best[tool] = d
						}
						if w.name == "10000x4KiB" {
							later = append(later, out(tool))
						} else {
							os.RemoveAll(out(tool))
						}
					}
				}
			}
			for tool, d := range best {
				b.ReportMetric(float64(w.bytes)/d.Seconds()/(1<<20), tool+"-MiB/s")
			}
			b.ReportMetric(best["cp-a"].Seconds()/best["seed-dir"].Seconds(), "x-speed-of-cp-a")
			b.ReportMetric(best["tar-xzf"].Seconds()/best["seed-tgz"].Seconds(), "x-speed-of-tar")
			if d, ok := best["seed-dir-tmpfs"]; ok {
				b.ReportMetric(best["cp-a-tmpfs"].Seconds()/d.Seconds(), "x-speed-of-cp-a-tmpfs")
				b.ReportMetric(best["tar-xzf-tmpfs"].Seconds()/best["seed-tgz-tmpfs"].Seconds(), "x-speed-of-tar-tmpfs")
			}
		})
	}
}

// runVsContainersPrep is the preparing container's script of the run
// benchmarks (harness and real node): a template, a file to seed, the
// plan, and the file the plan's first wait waits for.
const runVsContainersPrep = "mkdir -p /work/tpl /work/seed\n" +
	"echo 'region={{ .Env.APP_REGION }}' > /work/tpl/a.conf.tmpl\n" +
	"echo hi > /work/seed/index.html\n" +
	"touch /work/ready\n" +
	"printf '%s\\n' 'version: 1' 'steps:' '  - wait: {targets: [\"file:///work/ready\"]}'" +
	" '  - render: {src: /work/tpl/, out: /work/out/, env-prefix: APP_}' '  - seed: {source: /work/seed, target: /work/site}'" +
	" '  - wait: {targets: [\"file:///work/out/a.conf\"]}' > /work/plan.yaml\n"

// BenchmarkRunVsContainers: the same four steps (wait, render, seed, wait)
// as four init containers, and as one init container running a plan, on
// the pod harness. Each pod also runs the same preparing container and main
// container, so the difference is what the extra containers cost. Median
// of 3 pods each.
func BenchmarkRunVsContainers(b *testing.B) {
	script := runVsContainersPrep
	work := map[string]string{"work": "/work"}
	prep := Container{Name: "prep", Image: images.busybox, VolumeMounts: work, Args: []string{"-c", script}}
	env := map[string]string{"APP_REGION": "eu-west-1"}
	step := func(name string, args ...string) Container {
		return Container{Name: name, Image: images.initbox, Restricted: true, Env: env, VolumeMounts: work, Args: args}
	}
	pods := map[string][]Container{
		"4-containers": {prep,
			step("wait", "wait", "file:///work/ready"),
			step("render", "render", "/work/tpl/", "--out", "/work/out/", "--env-prefix", "APP_"),
			step("seed", "seed", "/work/seed", "/work/site"),
			step("wait2", "wait", "file:///work/out/a.conf")},
		"1-run": {prep, step("run", "run", "/work/plan.yaml")},
	}
	mainC := []Container{{Name: "main", Image: images.busybox, VolumeMounts: work, Args: []string{"-c", "cat /work/out/a.conf /work/site/index.html"}}}
	med := map[string]time.Duration{}
	for b.Loop() {
		for name, init := range pods {
			var took []time.Duration
			for range 3 {
				start := time.Now()
				st := RunPod(b, Pod{Name: "bench", Volumes: []string{"work"}, InitContainers: init, Containers: mainC})
				took = append(took, time.Since(start))
				for _, s := range append(st.Init, st.Main...) {
					if s.ExitCode != 0 {
						b.Fatalf("%s: %s exited %d:\n%s", name, s.Name, s.ExitCode, s.Logs)
					}
				}
				if m := st.Get(b, "main").Logs; !strings.Contains(m, "region=eu-west-1") || !strings.Contains(m, "hi") {
					b.Fatalf("%s: main saw %q", name, m)
				}
			}
			med[name] = median(took)
		}
	}
	b.ReportMetric(ms(med["4-containers"]), "4-containers-pod-ms")
	b.ReportMetric(ms(med["1-run"]), "1-run-pod-ms")
	b.ReportMetric(ms(med["4-containers"]-med["1-run"]), "saved-ms")
}

// BenchmarkHostilePeakRSS: the peak memory of inputs built to exhaust it,
// each refused (or, for the large repository under a cap that allows it,
// seeded): a git repository with one 150 MiB file (--max-bytes 10M, and
// 1G), a tar.gz with 2 GiB of zeros after the tar's end (--max-bytes 1M), a
// zip bomb, and a render told to make 10^10 items. Peak RSS from
// /usr/bin/time; each must also end with its expected exit code.
func BenchmarkHostilePeakRSS(b *testing.B) {
	dir := b.TempDir()
	sh := func(script string) {
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	sh(`git init -q -b main repo && head -c 157286400 /dev/urandom > repo/big.bin && git -C repo add -A && git -C repo commit -q -m big`)
	sh(`printf x > small && tar -cf t.tar small && (cat t.tar; head -c 2147483648 /dev/zero) | gzip -1 > trailing.tar.gz`)
	sh(`head -c 1073741824 /dev/zero > zeros && python3 -c "import zipfile; z=zipfile.ZipFile('bomb.zip','w',zipfile.ZIP_DEFLATED); z.write('zeros'); z.close()" && rm zeros`)
	sh(`printf 'count: 10000000000\n' > values.yaml && printf '{{ range until (int .Values.count) }}x{{ end }}' > until.tmpl`)
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		b.Fatal(err)
	}
	git := httptest.NewServer(&cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}})
	defer git.Close()
	rssRE := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"git-http-150MiB-max-10M", []string{"seed", "git+" + git.URL + "/repo/.git", filepath.Join(dir, "out-http-refused"), "--max-bytes", "10M"}, 1},
		{"git-http-150MiB-max-1G", []string{"seed", "git+" + git.URL + "/repo/.git", filepath.Join(dir, "out-http"), "--max-bytes", "1G"}, 0},
		{"git-150MiB-max-10M", []string{"seed", "git+file://" + filepath.Join(dir, "repo"), filepath.Join(dir, "out-git-refused"), "--max-bytes", "10M"}, 1},
		{"git-150MiB-max-1G", []string{"seed", "git+file://" + filepath.Join(dir, "repo"), filepath.Join(dir, "out-git"), "--max-bytes", "1G"}, 0},
		{"tgz-2GiB-after-the-end", []string{"seed", filepath.Join(dir, "trailing.tar.gz"), filepath.Join(dir, "out-tgz"), "--max-bytes", "1M"}, 1},
		{"zip-bomb-1GiB", []string{"seed", filepath.Join(dir, "bomb.zip"), filepath.Join(dir, "out-zip"), "--max-bytes", "100M"}, 1},
		{"render-until-1e10", []string{"render", filepath.Join(dir, "until.tmpl"), "--values", filepath.Join(dir, "values.yaml"), "--out", filepath.Join(dir, "out.txt")}, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var peak int64
			var took time.Duration
			for b.Loop() {
				cmd := exec.Command("/usr/bin/time", append([]string{"-v", binaryPath()}, append(tc.args, "--log-level", "warn")...)...)
				start := time.Now()
				out, err := cmd.CombinedOutput()
				took = time.Since(start)
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
				if code != tc.code {
					b.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
				}
				if m := rssRE.FindSubmatch(out); m != nil {
					kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
					peak = max(peak, kb)
				}
			}
			b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
			b.ReportMetric(float64(took.Milliseconds()), "ms")
		})
	}
}
