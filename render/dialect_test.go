package render

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// dialectCase is a template written for dockerize or gomplate, with the
// output their documentation gives (NAME.want) — or, where initbox differs
// on purpose, what it gives instead (NAME.initbox: an output, or
// "error: …" for a loud difference), and why (the archive's comment).
type dialectCase struct {
	name, tmpl, want, initbox string
	env                       []string
}

func readDialectCorpus(t *testing.T, dir string) []dialectCase {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.txtar"))
	if len(files) == 0 {
		t.Fatalf("no testdata/%s/*.txtar", dir)
	}
	byName := map[string]*dialectCase{}
	for _, f := range files {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, af := range ar.Files {
			base, ext, _ := strings.Cut(af.Name, ".")
			name := strings.TrimSuffix(filepath.Base(f), ".txtar") + "/" + base
			c := byName[name]
			if c == nil {
				c = &dialectCase{name: name}
				byName[name] = c
			}
			// txtar ends every file with a newline; the examples have none.
			text := strings.TrimSuffix(string(af.Data), "\n")
			switch ext {
			case "tmpl":
				c.tmpl = text
			case "want":
				c.want = text
			case "want-quoted": // a Go string: for outputs with \r or trailing spaces
				if c.want, err = strconv.Unquote(text); err != nil {
					t.Fatalf("%s: %s: %v", f, af.Name, err)
				}
			case "initbox":
				c.initbox = text
			case "env":
				c.env = strings.Split(text, "\n")
			default:
				t.Fatalf("%s: %s: unknown kind %q", f, af.Name, ext)
			}
		}
	}
	var cases []dialectCase
	for _, c := range byName {
		if c.tmpl == "" {
			t.Fatalf("%s has no template", c.name)
		}
		cases = append(cases, *c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases
}

func testDialect(t *testing.T, funcs, dir string, env []string) {
	identical, documented := 0, 0
	cases := readDialectCorpus(t, dir)
	for _, c := range cases {
		d := t.TempDir()
		src := filepath.Join(d, "t.tmpl")
		os.WriteFile(src, []byte(c.tmpl), 0o644)
		var out bytes.Buffer
		err := Run(t.Context(), Config{Src: src, Out: "-", Funcs: funcs, Env: append(append([]string{}, env...), c.env...), Stdout: &out})
		got := strings.TrimSuffix(out.String(), "\n")
		if err != nil {
			got = "error: " + err.Error()
		}
		want, note := c.want, funcs
		if c.initbox != "" {
			want, note = c.initbox, "the documented difference"
		}
		switch {
		case strings.HasPrefix(want, "error: ") && strings.HasPrefix(got, "error: ") && strings.Contains(got, strings.TrimPrefix(want, "error: ")):
		case got == want:
		default:
			t.Errorf("%s: initbox --funcs %s gives\n%q\nwant (%s)\n%q", c.name, funcs, got, note, want)
			continue
		}
		if c.initbox == "" {
			identical++
		} else {
			documented++
		}
	}
	t.Logf("%d %s cases: %d identical to its documented output, %d documented differences", len(cases), funcs, identical, documented)
}

// gomplate's documented examples (its functions' reference pages) render
// as documented, or differ as the case documents.
func TestGomplateCorpus(t *testing.T) {
	testDialect(t, FuncsGomplate, "gomplate", []string{"USER=hairyhenderson", "HOME=/home/hairyhenderson"})
}

// dockerize's documented templates render as dockerize renders them.
func TestDockerizeCorpus(t *testing.T) {
	testDialect(t, FuncsDockerize, "dockerize", nil)
}
