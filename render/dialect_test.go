package render

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
	var cases []dialectCase
	for _, tc := range readCases(t, filepath.Join("testdata", dir, "*.txtar"), "tmpl", "want", "want-quoted", "initbox", "env") {
		// txtar ends every file with a newline; the examples have none.
		text := func(kind string) string { return strings.TrimSuffix(string(tc.files[kind]), "\n") }
		c := dialectCase{name: tc.name, tmpl: text("tmpl"), want: text("want"), initbox: text("initbox")}
		if q, ok := tc.files["want-quoted"]; ok { // a Go string: for outputs with \r or trailing spaces
			var err error
			if c.want, err = strconv.Unquote(strings.TrimSpace(string(q))); err != nil {
				t.Fatalf("%s.want-quoted: %v", tc.name, err)
			}
		}
		if env := text("env"); env != "" {
			c.env = strings.Split(env, "\n")
		}
		cases = append(cases, c)
	}
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
