package app

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/clix"
)

var update = flag.Bool("update", false, "rewrite the generated flag tables in docs/")

const (
	tableBegin = "<!-- flags: generated from the command by `go test ./internal/app -run TestDocs -update`; edit the flag's Usage, not this table -->"
	tableEnd   = "<!-- end of flags -->"
)

// flagTable is the reference table of a command's flags, in the order and
// categories `--help` shows them.
func flagTable(c *cli.Command) string {
	var b strings.Builder
	b.WriteString("| flag | default | environment | meaning |\n| --- | --- | --- | --- |\n")
	var cats []string
	byCat := map[string][]cli.Flag{}
	for _, f := range c.Flags {
		cat := ""
		if cf, ok := f.(cli.CategorizableFlag); ok {
			cat = cf.GetCategory()
		}
		if _, seen := byCat[cat]; !seen {
			cats = append(cats, cat)
		}
		byCat[cat] = append(byCat[cat], f)
	}
	for _, cat := range cats {
		for _, f := range byCat[cat] {
			d := f.(cli.DocGenerationFlag)
			var names []string
			for _, n := range f.Names() {
				dash := "--"
				if len(n) == 1 {
					dash = "-"
				}
				names = append(names, "`"+dash+n+"`")
			}
			def := d.GetDefaultText()
			switch {
			case !d.TakesValue() && def == "false":
				def = "off"
			case def == "" || def == `""`:
				def = ""
			default:
				def = "`" + strings.Trim(def, `"`) + "`"
			}
			env := ""
			if e := d.GetEnvVars(); len(e) > 0 {
				env = "`" + strings.Join(e, "`, `") + "`"
			}
			usage := strings.ReplaceAll(d.GetUsage(), "|", `\|`)
			if s, ok := f.(cli.DocGenerationSliceFlag); ok && s.IsSliceFlag() && !strings.Contains(usage, "repeatable") {
				usage += " (repeatable)"
			}
			if cat != "" {
				usage = "*" + cat + ":* " + usage
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", strings.Join(names, ", "), def, env, usage)
		}
	}
	return b.String()
}

func docCommands() []*cli.Command {
	var common clix.Common
	var cmds []*cli.Command
	for _, c := range commands(&common, nil, io.Discard, io.Discard) {
		if c.Name != "version" {
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// Every command's page carries the table of its flags, generated from the
// command itself: a renamed, added or removed flag fails this test until
// the page is regenerated (go test ./internal/app -run TestDocs -update).
func TestDocsFlagTables(t *testing.T) {
	for _, c := range docCommands() {
		path := filepath.Join("..", "..", "docs", c.Name+".md")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("docs/%s.md: %v (every command has a page)", c.Name, err)
		}
		text := string(b)
		i, j := strings.Index(text, tableBegin), strings.Index(text, tableEnd)
		if i < 0 || j < i {
			t.Fatalf("docs/%s.md has no generated flag table: put the lines\n%s\n%s\nwhere it goes, and run with -update", c.Name, tableBegin, tableEnd)
		}
		want := text[:i+len(tableBegin)] + "\n" + flagTable(c) + text[j:]
		if want == text {
			continue
		}
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("docs/%s.md: its flag table differs from `initbox %s --help`; regenerate it: go test ./internal/app -run TestDocs -update", c.Name, c.Name)
	}
}

// foreignFlags are flags of other tools the documents show, each with a
// word that must be on the same line (the tool's name): a flag the
// documents name that is neither initbox's nor another tool's on its line
// fails the test, so a renamed initbox flag cannot linger in prose.
var foreignFlags = map[string]string{
	"--expect-status-code": "wait4x", "--expect-body-json": "wait4x",
	"--one-time": "git-sync", "--repo": "git-sync", "--ref": "git-sync",
	"--output-dir": "helm", "--env-file": "docker", "--posix": "bash", "--missing-key": "gomplate", "--wait": "helm", "--period": "git-sync",
	// placeholders in the architecture's prose
	"--key": "--key=value", "--flag": "--flag=value", "--awssm": "fetch/awssm",
}

// flagRE finds --flags; "--vault-…" names a family of flags by its prefix.
var flagRE = regexp.MustCompile("(?:^|[\\s`(\\[\"'])(--[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(-…)?")

// The documents name only flags initbox has (or another tool's, listed).
func TestDocsNameOnlyRealFlags(t *testing.T) {
	known := map[string]bool{"--help": true, "-h": true, "--": true}
	for _, c := range docCommands() {
		for _, f := range c.Flags {
			for _, n := range f.Names() {
				if len(n) == 1 {
					known["-"+n] = true
				} else {
					known["--"+n] = true
				}
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	files = append(files, filepath.Join("..", "..", "README.md"), filepath.Join("..", "..", "CONTRIBUTING.md"),
		filepath.Join("..", "..", "charts", "initbox", "README.md"))
	if len(files) < 10 {
		t.Fatalf("found only %v", files)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, tableBegin) {
				continue
			}
			// What follows a lone "--" is the command wait execs, with its
			// own flags.
			if i := strings.Index(line, " -- "); i >= 0 {
				line = line[:i]
			}
			for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
				f, family := m[1], m[2] != ""
				switch {
				case known[f]:
				case family && slices.ContainsFunc(slices.Collect(maps.Keys(known)), func(k string) bool { return strings.HasPrefix(k, f+"-") }):
				case foreignFlags[f] != "" && strings.Contains(line, foreignFlags[f]):
				default:
					t.Errorf("%s:%d names %s, which no initbox command has (renamed? if it is another tool's, add it to foreignFlags)", filepath.Base(path), n+1, f)
				}
			}
		}
	}

}
