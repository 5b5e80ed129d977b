package render

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testlog"
	"github.com/initbox/initbox/internal/watch"
)

// watching runs render --watch in the background until the test ends;
// done delivers what Run returned.
func watching(t *testing.T, c Config, o watch.Options) (done <-chan error, stop func()) {
	t.Helper()
	if o.Refresh == 0 {
		o.Refresh = time.Hour // only the files wake it
	}
	c.Watch = &o
	ctx, cancel := context.WithCancel(t.Context())
	ch, ended := make(chan error, 1), make(chan struct{})
	go func() { ch <- Run(ctx, c); close(ended) }()
	stop = func() { cancel(); <-ended }
	t.Cleanup(stop)
	return ch, stop
}

// content is a file's content, "" while it is not there.
func content(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// configMapVolume lays out dir as the kubelet does a ConfigMap volume:
// name → ..data/name, ..data → ..<version>.
func configMapVolume(t *testing.T, dir, version string, files map[string]string) {
	t.Helper()
	v := filepath.Join(dir, ".."+version)
	os.MkdirAll(v, 0o755)
	for name, content := range files {
		write(t, filepath.Join(v, name), content)
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name))
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	os.Symlink(".."+version, tmp)
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// A ConfigMap update (the kubelet's ..data swap) re-renders the output; a
// template edited into an error keeps the published file, and the fix is
// published; an unchanged rewrite republishes nothing.
func TestWatchReRenders(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "config")
	configMapVolume(t, vol, "2026_12_02_1", map[string]string{"values.yaml": "replicas: 2\n"})
	tmpl := filepath.Join(dir, "app.yaml.tmpl")
	write(t, tmpl, "replicas: {{ .Values.replicas }}\n")
	out := filepath.Join(dir, "out", "app.yaml")
	os.MkdirAll(filepath.Dir(out), 0o755)
	logs := testlog.Capture(t)
	done, _ := watching(t, Config{Src: tmpl, Out: out, Values: []string{filepath.Join(vol, "values.yaml")}}, watch.Options{})
	eventually(t, "the first render", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the watch ended: %v", err)
		default:
		}
		return content(out) == "replicas: 2\n"
	})

	configMapVolume(t, vol, "2026_12_02_2", map[string]string{"values.yaml": "replicas: 5\n"})
	eventually(t, "the ConfigMap's new values rendered", func() bool { return content(out) == "replicas: 5\n" })

	write(t, tmpl, "replicas: {{ .Values.replicas \n") // a parse error
	time.Sleep(watch.Settle + 300*time.Millisecond)
	if got := content(out); got != "replicas: 5\n" {
		t.Errorf("a broken template replaced the output: %q", got)
	}
	if !strings.Contains(logs.String(), "refresh failed; the published files are kept") {
		t.Errorf("the failed re-render was not logged:\n%s", logs)
	}
	n := strings.Count(logs.String(), "msg=republished") + 1
	write(t, tmpl, "replicas: {{ .Values.replicas }} # fixed\n")
	// The republished line follows the rename, so wait for both.
	eventually(t, "the fixed template rendered", func() bool {
		return content(out) == "replicas: 5 # fixed\n" && strings.Count(logs.String(), "msg=republished") == n
	})
	write(t, tmpl, "replicas: {{ .Values.replicas }} # fixed\n") // same content
	time.Sleep(watch.Settle + 300*time.Millisecond)
	if m := strings.Count(logs.String(), "msg=republished"); m != n {
		t.Errorf("an unchanged render was republished")
	}
}

// A directory of templates: a new template in it appears in the output
// tree, published all or nothing.
func TestWatchTemplateTree(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	write(t, filepath.Join(src, "a.conf.tmpl"), "a={{ .Env.WATCH_A }}\n")
	out := filepath.Join(dir, "out")
	watching(t, Config{Src: src, Out: out + "/", Env: []string{"WATCH_A=1"}}, watch.Options{})
	eventually(t, "the first tree", func() bool { return content(filepath.Join(out, "a.conf")) == "a=1\n" })
	write(t, filepath.Join(src, "sub", "b.conf.tmpl"), "b\n")
	eventually(t, "the new template", func() bool { return content(filepath.Join(out, "sub", "b.conf")) == "b\n" })
}

// A template that never returns in a later pass ends the watch with exit
// 124 (it cannot be stopped inside the process; the pod restarts it).
func TestWatchRunawayTemplateEndsTheProcess(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "t.tmpl")
	write(t, tmpl, "ok\n")
	done, _ := watching(t, Config{Src: tmpl, Out: filepath.Join(dir, "out"), Timeout: 300 * time.Millisecond}, watch.Options{})
	eventually(t, "the first render", func() bool {
		select {
		case err := <-done:
			t.Fatal(err)
		default:
		}
		return content(filepath.Join(dir, "out")) == "ok\n"
	})
	write(t, tmpl, "{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}")
	select {
	case err := <-done:
		if exitcode.Of(err) != exitcode.Deadline {
			t.Errorf("Run = %v (exit %d), want 124", err, exitcode.Of(err))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch went on past a runaway template")
	}
}

func TestWatchUsage(t *testing.T) {
	for _, c := range []Config{
		{Src: "-", Out: "x", Watch: &watch.Options{}},
		{Src: "t.tmpl", Out: "-", Watch: &watch.Options{}},
		{Src: "t.tmpl", Out: "x", DryRun: true, Watch: &watch.Options{}},
		{Src: "t.tmpl", Out: "x", Watch: &watch.Options{Notify: watch.Notify{URL: "ftp://x"}}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
