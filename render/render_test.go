package render

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initbox/initbox/internal/exitcode"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every failure leaves the previous output as it was: a missing key, a
// syntax error, an output that does not parse, a failing --check.
func TestFailuresKeepTheOldOutput(t *testing.T) {
	dir := t.TempDir()
	src, out := filepath.Join(dir, "src"), filepath.Join(dir, "out")
	write(t, filepath.Join(src, "app.json.tmpl"), `{"port": {{ .Values.port }}}`)
	write(t, filepath.Join(src, "other.conf.tmpl"), `name={{ .Values.name }}`)
	vals := filepath.Join(dir, "v.yaml")
	write(t, vals, "port: 80\nname: a\n")
	run := func(c Config) error {
		c.Src, c.Out, c.Values = src+"/", out+"/", []string{vals}
		return Run(t.Context(), c)
	}
	if err := run(Config{}); err != nil {
		t.Fatal(err)
	}
	good := map[string]string{"app.json": `{"port": 80}`, "other.conf": "name=a"}
	for _, tc := range []struct {
		name  string
		setup func()
		c     Config
		want  string
	}{
		{"missing key", func() { write(t, vals, "name: b\n") }, Config{}, `app.json.tmpl:1:12: .Values.port is missing`},
		{"syntax", func() { write(t, filepath.Join(src, "other.conf.tmpl"), "name={{ .Values.name ") }, Config{}, "other.conf.tmpl:1: unclosed action"},
		{"invalid json", func() { write(t, vals, "port: '80,'\nname: b\n") }, Config{}, "app.json: the output is not valid json"},
		{"failing check", func() { write(t, vals, "port: 81\nname: b\n") }, Config{Checks: []string{`grep -q name=a {{.Path}}`}}, `--check "grep -q name=a {{.Path}}" on`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(t, vals, "port: 80\nname: a\n")
			write(t, filepath.Join(src, "other.conf.tmpl"), `name={{ .Values.name }}`)
			tc.setup()
			err := run(tc.c)
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing is written") {
				t.Fatalf("err = %v", err)
			}
			for n, w := range good {
				if got := read(t, filepath.Join(out, n)); got != w {
					t.Errorf("%s = %q, want the old %q", n, got, w)
				}
			}
		})
	}
}

// A --check sees the staged file with the new content; when it passes, the
// files are published. {{.Dir}} runs once on the staged directory.
func TestCheckRunsOnStagedFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "src/a.conf.tmpl"), "v={{ .Values.v }}\n")
	write(t, filepath.Join(dir, "src/b.conf.tmpl"), "w={{ .Values.v }}\n")
	write(t, filepath.Join(dir, "v.yaml"), "v: 2\n")
	log := filepath.Join(dir, "seen")
	c := Config{Src: filepath.Join(dir, "src"), Out: filepath.Join(dir, "out") + "/", Values: []string{filepath.Join(dir, "v.yaml")},
		Checks: []string{`grep -q =2 {{.Path}}`, `sh -c 'ls "$1" > "$2"' sh {{.Dir}} ` + log}}
	if err := Run(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "out/a.conf")); got != "v=2\n" {
		t.Errorf("a.conf = %q", got)
	}
	if got := read(t, log); got != "a.conf\nb.conf\n" {
		t.Errorf("{{.Dir}} held %q", got)
	}
	// A single file: the check sees the temp file, then it is committed.
	single := filepath.Join(dir, "single.conf")
	c = Config{Src: filepath.Join(dir, "src/a.conf.tmpl"), Out: single, Values: c.Values, Checks: []string{`grep -q v=2 {{.Path}}`}}
	if err := Run(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got := read(t, single); got != "v=2\n" {
		t.Errorf("single.conf = %q", got)
	}
}

// Hermetic: no DNS, no exec, no file reads; include and template name
// templates, not files; a template that includes itself stops.
func TestHermetic(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ tmpl, want string }{
		{`{{ getHostByName "localhost" }}`, `function "getHostByName" not defined`},
		{`{{ exec "id" }}`, `function "exec" not defined`},
		{`{{ readFile "/etc/passwd" }}`, `function "readFile" not defined`},
		{`{{ include "/etc/passwd" . }}`, `no template "/etc/passwd"`},
		{`{{ template "/etc/passwd" }}`, `template "/etc/passwd" not defined`},
		{`{{ define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}`, "more than 1000 nested includes"},
		{`{{ .Env.HOME }}`, `.Env.HOME is missing`},
		{`{{ expandenv "$HOME" }}x`, ""},
	} {
		src := filepath.Join(dir, "t.tmpl")
		write(t, src, tc.tmpl)
		var out bytes.Buffer
		err := Run(t.Context(), Config{Src: src, Out: "-", Stdout: &out, EnvPrefix: "APP_", Env: []string{"HOME=/root", "APP_A=1"}})
		if tc.want == "" {
			if err != nil || out.String() != "x" {
				t.Errorf("%s: %q, %v; want x (HOME is outside the prefix)", tc.tmpl, out.String(), err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.tmpl, err, tc.want)
		}
	}
}

// --dry-run names new, changed and removed files, diffs files without
// secrets, hides the diff of a file that holds a value from a Secret
// volume, and writes nothing.
func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	src, out := filepath.Join(dir, "src"), filepath.Join(dir, "out")
	write(t, filepath.Join(src, "a.conf.tmpl"), "line1\nport={{ .Values.port }}\nline3\n")
	write(t, filepath.Join(src, "db.conf.tmpl"), "password={{ .Data.db.password }}\n")
	write(t, filepath.Join(src, "old.txt"), "old")
	write(t, filepath.Join(dir, "secret/password"), "Sekr1t-pw")
	vals := filepath.Join(dir, "v.yaml")
	write(t, vals, "port: 80\n")
	c := Config{Src: src, Out: out + "/", Values: []string{vals}, Data: []string{"db=" + filepath.Join(dir, "secret")}}
	if err := Run(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(src, "old.txt"))
	write(t, filepath.Join(src, "new.txt"), "new")
	write(t, vals, "port: 81\n")
	write(t, filepath.Join(dir, "secret/password"), "Other-pw-2")
	var stdout bytes.Buffer
	c.DryRun, c.Stdout = true, &stdout
	if err := Run(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	got := stdout.String()
	for _, want := range []string{"1 new, 2 changed, 1 removed, 0 unchanged", "+ new.txt", "~ a.conf", "    - port=80", "    + port=81", "    line1", "~ db.conf", "diff not shown", "- old.txt"} {
		if !strings.Contains(got, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Sekr1t") || strings.Contains(got, "Other-pw") {
		t.Errorf("dry run printed a secret:\n%s", got)
	}
	if read(t, filepath.Join(out, "a.conf")) != "line1\nport=80\nline3\n" {
		t.Error("dry run wrote")
	}
}

// Modes: each source's is kept, or --mode for all; stdin renders to a file.
func TestModesAndStdin(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "src/run.sh.tmpl"), "echo {{ .Values.x }}\n")
	os.Chmod(filepath.Join(dir, "src/run.sh.tmpl"), 0o750)
	write(t, filepath.Join(dir, "src/plain.txt"), "p")
	os.Chmod(filepath.Join(dir, "src/plain.txt"), 0o640)
	write(t, filepath.Join(dir, "v.yaml"), "x: 1\n")
	if err := Run(t.Context(), Config{Src: filepath.Join(dir, "src"), Out: filepath.Join(dir, "out/"), Values: []string{filepath.Join(dir, "v.yaml")}}); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]os.FileMode{"run.sh": 0o750, "plain.txt": 0o640} {
		if fi, err := os.Stat(filepath.Join(dir, "out", n)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", n, fi.Mode(), err, want)
		}
	}
	out := filepath.Join(dir, "from-stdin.conf")
	err := Run(t.Context(), Config{Src: "-", Out: out, Stdin: strings.NewReader("v={{ .Values.x }}"), Values: []string{filepath.Join(dir, "v.yaml")}, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(out); read(t, out) != "v=1" || fi.Mode().Perm() != 0o600 {
		t.Errorf("stdin render: %q %v", read(t, out), fi.Mode())
	}
}

// Bad inputs are usage errors (exit 2) naming the input, before anything is
// read or written.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "t.tmpl"), "x")
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Src: filepath.Join(dir, "nope.tmpl"), Out: "-"}, "nope.tmpl: no such file or directory"},
		{Config{Src: filepath.Join(dir, "t.tmpl"), Out: "-", Values: []string{filepath.Join(dir, "missing.yaml")}}, "--values " + filepath.Join(dir, "missing.yaml")},
		{Config{Src: filepath.Join(dir, "t.tmpl"), Out: "-", Data: []string{"bad-name=x.json"}}, `--data "bad-name=x.json": want NAME=PATH`},
		{Config{Src: filepath.Join(dir, "t.tmpl"), Out: "-", Data: []string{"x=" + filepath.Join(dir, "t.tmpl")}}, "cannot tell the format"},
		{Config{Src: filepath.Join(dir, "t.tmpl"), Out: "-", Values: []string{"v.yaml?nope"}}, `unknown option "nope"`},
		{Config{Src: filepath.Join(dir, "t.tmpl"), Out: "-", Allow: []string{"A"}}, "add --envsubst"},
		{Config{Src: filepath.Join(dir, "t.tmpl"), Out: "-", Checks: []string{"x"}}, "--check runs on files"},
		{Config{Src: filepath.Join(dir, "t.tmpl"), Out: "o", Checks: []string{`grep "x`}}, "unterminated quote"},
		{Config{Src: dir, Out: "-"}, "renders a directory"},
	} {
		err := Run(context.Background(), tc.c)
		if exitcode.Of(err) != exitcode.UsageCode || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v (exit %d), want %q", tc.c, err, exitcode.Of(err), tc.want)
		}
	}
	// A target that is a directory where a file is asked for: exit 1,
	// nothing written into it.
	err := Run(context.Background(), Config{Src: filepath.Join(dir, "t.tmpl"), Out: filepath.Join(dir, "adir")})
	if err == nil || !strings.Contains(err.Error(), "adir") {
		t.Errorf("directory target: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "adir")); len(entries) != 0 {
		t.Errorf("wrote into the directory: %v", entries)
	}
}

// The source directory may be a link (a ConfigMap volume's ..data, a prefix
// fetch published): its files are rendered, named as below the link.
func TestSourceThroughLink(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "..data/tpl/a.conf.tmpl"), "a={{ .Env.APP_A }}\n")
	os.Symlink("..data/tpl", filepath.Join(dir, "tpl"))
	out := filepath.Join(dir, "out")
	if err := Run(t.Context(), Config{Src: filepath.Join(dir, "tpl"), Out: out, Env: []string{"APP_A=1"}}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(out, "a.conf")); got != "a=1\n" {
		t.Errorf("a.conf = %q", got)
	}
}
