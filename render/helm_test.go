package render

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/initbox/initbox/internal/testserver"
)

// helmCase is one snippet of the corpus: a template, its values, and — for
// a difference initbox makes on purpose — what initbox gives instead (an
// output, or "error: …" for a loud one).
type helmCase struct {
	name, tmpl, values string
	initbox            string // "" = identical to helm
	zero               string // in --missing zero mode: "" = identical to helm
}

// helmCorpus reads testdata/helm/*.txtar: NAME.tmpl, NAME.yaml (values),
// NAME.initbox (a documented difference in the default mode),
// NAME.initbox-zero (one that remains with --missing zero).
func helmCorpus(t *testing.T) []helmCase {
	var cases []helmCase
	for _, tc := range readCases(t, "testdata/helm/*.txtar", "tmpl", "yaml", "initbox", "initbox-zero") {
		cases = append(cases, helmCase{name: tc.name, tmpl: string(tc.files["tmpl"]), values: string(tc.files["yaml"]),
			initbox: outputOrError(tc.files["initbox"]), zero: outputOrError(tc.files["initbox-zero"])})
	}
	return cases
}

// txtarCase is one case of a corpus: the files NAME.KIND of an archive,
// by KIND; its name is ARCHIVE/NAME.
type txtarCase struct {
	name  string
	files map[string][]byte
}

// readCases reads the archives pattern matches into cases, sorted by
// name; every case has a template (NAME.tmpl), and a kind not in kinds is
// an error.
func readCases(t *testing.T, pattern string, kinds ...string) []txtarCase {
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		t.Fatalf("no %s", pattern)
	}
	byName := map[string]txtarCase{}
	for _, f := range files {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, af := range ar.Files {
			base, kind, _ := strings.Cut(af.Name, ".")
			if !slices.Contains(kinds, kind) {
				t.Fatalf("%s: %s: unknown kind %q", f, af.Name, kind)
			}
			name := strings.TrimSuffix(filepath.Base(f), ".txtar") + "/" + base
			c, ok := byName[name]
			if !ok {
				c = txtarCase{name: name, files: map[string][]byte{}}
				byName[name] = c
			}
			c.files[kind] = af.Data
		}
	}
	var cases []txtarCase
	for _, c := range byName {
		if _, ok := c.files["tmpl"]; !ok {
			t.Fatalf("%s has no template", c.name)
		}
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases
}

// outputOrError is a documented difference: an output as it is (a
// template's last newline included), or "error: …" trimmed.
func outputOrError(b []byte) string {
	if s := string(b); strings.HasPrefix(s, "error: ") {
		return strings.TrimSpace(s)
	}
	return string(b)
}

func helmBinary(t *testing.T) string {
	testserver.Needs(t, "helm (make k8s-tools builds it)")
	if p := os.Getenv("INITBOX_HELM_BIN"); p != "" {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("..", "build", "peers", "helm"))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no helm: run `make k8s-tools` (it builds build/peers/helm), or set INITBOX_HELM_BIN")
	}
	return p
}

// renderHelm renders every case with one `helm template`: each snippet is a
// partial of one chart, included into a ConfigMap's block scalar with its
// own values as .Values, so helm's YAML check passes whatever it prints.
func renderHelm(t *testing.T, cases []helmCase) (out map[string]string, failed, message string) {
	dir := filepath.Join(t.TempDir(), "corpus")
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: corpus\nversion: 0.1.0\nappVersion: \"1.0\"\n"), 0o644)
	var values, chartOut bytes.Buffer
	var includeLines []int // the line of out.yaml that includes each case
	for i, c := range cases {
		key := fmt.Sprintf("c%03d", i)
		os.WriteFile(filepath.Join(dir, "templates", "_"+key+".tpl"), []byte(c.tmpl), 0o644)
		v := map[string]any{}
		if err := sigsyaml.Unmarshal([]byte(c.values), &v); err != nil {
			t.Fatalf("%s: values: %v", c.name, err)
		}
		b, _ := sigsyaml.Marshal(map[string]any{key: v})
		values.Write(b)
		includeLines = append(includeLines, strings.Count(chartOut.String(), "\n")+7)
		fmt.Fprintf(&chartOut, `---
apiVersion: v1
kind: ConfigMap
metadata: {name: %s}
data:
  out: |2-
{{ include "corpus/templates/_%s.tpl" (dict "Values" .Values.%s "Chart" .Chart "Release" .Release "Capabilities" .Capabilities "Template" .Template) | indent 4 }}
    END
`, key, key, key)
	}
	os.WriteFile(filepath.Join(dir, "values.yaml"), values.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "templates", "out.yaml"), chartOut.Bytes(), 0o644)
	cmd := exec.Command(helmBinary(t), "template", "rel", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		if m := failedCase.FindStringSubmatch(stderr.String()); m != nil {
			return nil, m[1], strings.TrimSpace(stderr.String())
		}
		// An error helm reports at the including line (fail, required).
		if m := failedLine.FindStringSubmatch(stderr.String()); m != nil {
			var line int
			fmt.Sscanf(m[1], "%d", &line)
			for i, at := range includeLines {
				if at == line {
					return nil, fmt.Sprintf("c%03d", i), strings.TrimSpace(stderr.String())
				}
			}
		}
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	got := map[string]string{}
	for _, doc := range strings.Split(string(rendered), "\n---\n") {
		var cm struct {
			Metadata struct{ Name string }
			Data     map[string]string
		}
		if err := sigsyaml.Unmarshal([]byte(doc), &cm); err == nil && cm.Metadata.Name != "" {
			// The END line keeps the last line's trailing spaces in the
			// block scalar.
			got[cm.Metadata.Name] = strings.TrimSuffix(cm.Data["out"], "\nEND")
		}
	}
	return got, "", ""
}

// failedCase finds the case helm failed on in its error; failedLine the
// line of out.yaml it names otherwise.
var (
	failedCase = regexp.MustCompile(`corpus/templates/_(c\d{3})\.tpl`)
	failedLine = regexp.MustCompile(`corpus/templates/out\.yaml:(\d+):`)
)

// renderInitbox renders one case as a user would: the snippet as a file,
// its values with --values, the chart's Chart.yaml and a release.
func renderInitbox(t *testing.T, c helmCase, missing string) string {
	dir := t.TempDir()
	tmpl, vals, chart := filepath.Join(dir, "t.tmpl"), filepath.Join(dir, "values.yaml"), filepath.Join(dir, "Chart.yaml")
	os.WriteFile(tmpl, []byte(c.tmpl), 0o644)
	os.WriteFile(vals, []byte(c.values), 0o644)
	os.WriteFile(chart, []byte("apiVersion: v2\nname: corpus\nversion: 0.1.0\nappVersion: \"1.0\"\n"), 0o644)
	var out bytes.Buffer
	err := Run(t.Context(), Config{Src: tmpl, Out: "-", Values: []string{vals}, Chart: chart, Release: "rel", Missing: missing, Stdout: &out})
	if err != nil {
		return "error: " + err.Error()
	}
	return out.String()
}

// The corpus renders as `helm template` renders it — byte for byte — or
// makes a difference documented in the case (a loud error, or an output
// initbox gives on purpose, such as integers that stay integers).
func TestHelmCorpus(t *testing.T) {
	cases := helmCorpus(t)
	// A case helm fails on is set aside (helm stops at the first) with its
	// error: initbox must fail on it too, or do what the case documents.
	helmErr := map[string]string{}
	var helm map[string]string
	for {
		var rest []helmCase
		for _, c := range cases {
			if _, failed := helmErr[c.name]; !failed {
				rest = append(rest, c)
			}
		}
		out, failed, msg := renderHelm(t, rest)
		if failed == "" {
			helm = map[string]string{}
			for i, c := range rest {
				if v, ok := out[fmt.Sprintf("c%03d", i)]; ok {
					helm[c.name] = v
				}
			}
			break
		}
		var i int
		fmt.Sscanf(failed, "c%03d", &i)
		helmErr[rest[i].name] = msg
	}
	identical, documented := 0, 0
	for _, c := range cases {
		want, ok := helm[c.name]
		if msg, failed := helmErr[c.name]; failed {
			want, ok = "error: ", true // initbox must fail too, unless documented
			t.Logf("%s: helm fails: %.300s", c.name, msg)
		}
		if !ok {
			t.Errorf("%s: helm rendered nothing", c.name)
			continue
		}

		for _, mode := range []string{MissingPrint, MissingZero} {
			got := renderInitbox(t, c, mode)
			expect, note := want, "helm"
			if d := map[string]string{MissingPrint: c.initbox, MissingZero: c.zero}[mode]; d != "" {
				expect, note = d, "the documented difference"
			}
			switch {
			case strings.HasPrefix(expect, "error: ") && strings.HasPrefix(got, "error: ") && strings.Contains(got, strings.TrimPrefix(expect, "error: ")):
				// A loud error on both sides, or the one the case names.
			case got == expect:
			default:
				t.Errorf("%s (--missing %s): initbox gives\n%q\nwant (%s)\n%q", c.name, mode, got, note, expect)
				continue
			}
			if mode == MissingPrint {
				if note == "helm" {
					identical++
				} else {
					documented++
				}
			}
		}
	}
	t.Logf("%d cases: %d identical to helm template, %d documented differences", len(cases), identical, documented)
}

// A chart's own template with a library chart's helpers (written the way
// bitnami's common and `helm create` write theirs: guards, optional dict
// entries, tpl in values, .Chart, .Release, .Capabilities, lookup) renders
// as `helm template` renders the chart, with the library as --partials —
// with its values alone and with global overrides on top.
func TestHelmLibrary(t *testing.T) {
	helm := helmBinary(t)
	chart, _ := filepath.Abs("testdata/helm-library/chart")
	global, _ := filepath.Abs("testdata/helm-library/global.yaml")
	for _, extra := range [][]string{nil, {global}} {
		args := []string{"template", "rel", chart, "--namespace", "shop"}
		for _, v := range extra {
			args = append(args, "-f", v)
		}
		cmd := exec.Command(helm, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, stderr.String())
		}
		// helm prints the documents in its install order (by kind).
		want := docs(strings.Split(string(b), "---\n# Source: shop/templates/out.yaml\n"))
		for _, mode := range []string{MissingPrint, MissingZero} {
			var out bytes.Buffer
			err := Run(t.Context(), Config{
				Src: filepath.Join(chart, "templates", "out.yaml"), Out: "-", Stdout: &out,
				Values:   append([]string{filepath.Join(chart, "values.yaml")}, extra...),
				Partials: filepath.Join(chart, "charts", "lib", "templates"),
				Chart:    chart, Release: "rel", Namespace: "shop", Missing: mode,
			})
			if err != nil {
				t.Fatalf("values %v, --missing %s: %v", extra, mode, err)
			}
			if got := docs(strings.Split(out.String(), "\n---\n")); got != want {
				t.Errorf("values %v, --missing %s: initbox gives\n%s\nhelm gives\n%s", extra, mode, got, want)
			}
		}
		// The library reads absent keys: where every lookup must exist, it fails.
		err = Run(t.Context(), Config{Src: filepath.Join(chart, "templates", "out.yaml"), Out: "-", Stdout: io.Discard,
			Values: append([]string{filepath.Join(chart, "values.yaml")}, extra...), Partials: filepath.Join(chart, "charts", "lib", "templates"),
			Chart: chart, Release: "rel", Namespace: "shop", Missing: MissingError})
		if err == nil || !strings.Contains(err.Error(), "map has no entry for key") {
			t.Errorf("values %v, --missing error: %v, want a missing key", extra, err)
		}
	}
}

// docs sorts YAML documents, each trimmed, and joins them again.
func docs(d []string) string {
	var out []string
	for _, s := range d {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n---\n")
}
