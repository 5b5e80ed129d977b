package render

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/initbox/initbox/internal/testserver"
)

// envsubstFile is one file of testdata/envsubst: cases that share an
// environment, an --allow list and the tools they are compared with.
//
//	env NAME=VALUE           the environment (nothing else is set)
//	allow A,B                --allow (none: every ${…} name, no bare $VAR)
//	compare a8m gnu dash bash
//	error CASE TEXT          initbox fails, saying TEXT (the tools are not compared)
//	differs CASE TOOL WHY    a deliberate difference from one tool, documented in docs/render.md
type envsubstFile struct {
	env     []string
	allow   []string
	compare []string
	errs    map[string]string
	differs map[string]map[string]bool
	cases   []txtar.File
}

func readEnvsubstCorpus(t *testing.T) map[string]envsubstFile {
	files, _ := filepath.Glob("testdata/envsubst/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata/envsubst/*.txtar")
	}
	out := map[string]envsubstFile{}
	for _, f := range files {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ef := envsubstFile{errs: map[string]string{}, differs: map[string]map[string]bool{}, cases: ar.Files}
		for _, line := range strings.Split(string(ar.Comment), "\n") {
			kw, rest, _ := strings.Cut(line, " ")
			switch kw {
			case "env":
				ef.env = append(ef.env, rest)
			case "allow":
				ef.allow = strings.Split(rest, ",")
			case "compare":
				ef.compare = strings.Fields(rest)
			case "error":
				name, text, _ := strings.Cut(rest, " ")
				ef.errs[name] = text
			case "differs":
				f := strings.Fields(rest)
				if len(f) < 3 {
					t.Fatalf("%s: %q: differs CASE TOOL WHY", f, line)
				}
				if ef.differs[f[0]] == nil {
					ef.differs[f[0]] = map[string]bool{}
				}
				ef.differs[f[0]][f[1]] = true
			}
		}
		for name := range ef.errs {
			if !slices.ContainsFunc(ar.Files, func(c txtar.File) bool { return c.Name == name }) {
				t.Fatalf("%s: error names no case %q", f, name)
			}
		}
		for name := range ef.differs {
			if !slices.ContainsFunc(ar.Files, func(c txtar.File) bool { return c.Name == name }) {
				t.Fatalf("%s: differs names no case %q", f, name)
			}
		}
		out[filepath.Base(f)] = ef
	}
	return out
}

// envsubstTools run a template through the tools users replace with
// initbox render --envsubst.
type envsubstTool func(t *testing.T, tmpl string, env, allow []string) (string, error)

func envsubstTools(t *testing.T) map[string]envsubstTool {
	testserver.Needs(t, "a8m/envsubst, GNU envsubst, dash and bash")
	a8m, _ := filepath.Abs(filepath.Join("..", "build", "peers", "envsubst-a8m"))
	if _, err := os.Stat(a8m); err != nil {
		t.Fatalf("no a8m/envsubst: run `make render-peers` (it builds build/peers/envsubst-a8m)")
	}
	gnu, err := exec.LookPath("envsubst")
	if err != nil {
		t.Fatalf("no GNU envsubst: install gettext-base (make deps-test)")
	}
	run := func(env []string, stdin string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
		}
		return string(out), nil
	}
	// A here-document is how a shell script renders a template.
	shell := func(sh string, args ...string) envsubstTool {
		return func(t *testing.T, tmpl string, env, _ []string) (string, error) {
			path, err := exec.LookPath(sh)
			if err != nil {
				t.Fatalf("no %s: install it (make deps-test)", sh)
			}
			script := "cat <<__INITBOX_END__\n" + tmpl + "__INITBOX_END__\n"
			return run(env, script, path, args...)
		}
	}
	return map[string]envsubstTool{
		"a8m": func(t *testing.T, tmpl string, env, _ []string) (string, error) {
			return run(env, tmpl, a8m)
		},
		// GNU envsubst replaces $VAR and ${VAR} of the names its format
		// lists: the --allow names, or else those the template braces.
		"gnu": func(t *testing.T, tmpl string, env, allow []string) (string, error) {
			names := allow
			if len(names) == 0 {
				for _, m := range bracedName.FindAllStringSubmatch(tmpl, -1) {
					names = append(names, m[1])
				}
			}
			var format strings.Builder
			for _, n := range names {
				format.WriteString("${" + n + "} ")
			}
			return run(env, tmpl, gnu, format.String())
		},
		"dash": shell("dash", "-s"),
		"bash": shell("bash", "--posix", "-s"),
	}
}

var bracedName = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// Every case renders as each tool its file names renders it, byte for
// byte, or fails loudly where the case says so, or makes a difference the
// case documents.
func TestEnvsubstCorpus(t *testing.T) {
	tools := envsubstTools(t)
	total, identical, loud := 0, 0, 0
	for file, ef := range readEnvsubstCorpus(t) {
		for _, c := range ef.cases {
			name := strings.TrimSuffix(file, ".txtar") + "/" + c.Name
			total++
			dir := t.TempDir()
			src := filepath.Join(dir, "t.conf.tmpl")
			os.WriteFile(src, c.Data, 0o644)
			var out bytes.Buffer
			err := Run(t.Context(), Config{Src: src, Out: "-", Envsubst: true, Allow: ef.allow, Env: ef.env, Stdout: &out})
			if want, ok := ef.errs[c.Name]; ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: initbox gives %q, %v; want an error saying %q", name, out.String(), err, want)
				} else {
					loud++
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			same := true
			for _, tool := range ef.compare {
				if ef.differs[c.Name][tool] {
					continue
				}
				want, terr := tools[tool](t, string(c.Data), ef.env, ef.allow)
				if terr != nil {
					t.Errorf("%s: %s fails: %v", name, tool, terr)
					same = false
					continue
				}
				if out.String() != want {
					t.Errorf("%s: initbox gives\n%q\nwant (%s)\n%q", name, out.String(), tool, want)
					same = false
				}
			}
			if same && len(ef.differs[c.Name]) == 0 {
				identical++
			}
		}
	}
	t.Logf("%d envsubst cases: %d identical to every tool compared, %d loud errors, %d documented differences", total, identical, loud, total-identical-loud)
}
