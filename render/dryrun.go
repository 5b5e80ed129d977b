package render

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/initbox/initbox/internal/redact"
)

// dryRun prints what a render would change: new, changed and removed
// files, and a line diff of each changed file unless it holds a secret
// value (one read from a --data directory, a Secret volume).
func (c Config) dryRun(outs []output, dirOut bool) error {
	w := c.Stdout
	if w == nil {
		w = os.Stdout
	}
	current := map[string]string{} // name → path of the published file
	if dirOut {
		filepath.WalkDir(c.Out, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(c.Out, p)
			if strings.HasPrefix(filepath.Base(rel), "..") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				current[filepath.ToSlash(rel)] = p
			} else if err == nil && fi.IsDir() && d.Type()&fs.ModeSymlink != 0 {
				// a published top-level directory: a link into ..data
				filepath.WalkDir(p+"/", func(q string, e fs.DirEntry, err error) error {
					if err == nil && e.Type().IsRegular() {
						r, _ := filepath.Rel(c.Out, q)
						current[filepath.ToSlash(r)] = q
					}
					return nil
				})
			}
			return nil
		})
	} else if _, err := os.Stat(c.Out); err == nil {
		current[outs[0].name] = c.Out
	}
	var added, changed, same int
	var lines []string
	for _, o := range outs {
		p, ok := current[o.name]
		delete(current, o.name)
		if !ok {
			added++
			lines = append(lines, "+ "+o.name)
			continue
		}
		old, err := os.ReadFile(p)
		if err == nil && string(old) == string(o.data) {
			same++
			continue
		}
		changed++
		lines = append(lines, "~ "+o.name)
		if redact.Scrub(string(old)) != string(old) || redact.Scrub(string(o.data)) != string(o.data) {
			lines = append(lines, "    (holds secret values: diff not shown)")
			continue
		}
		for _, l := range diffLines(string(old), string(o.data), 200) {
			lines = append(lines, "    "+l)
		}
	}
	gone := make([]string, 0, len(current))
	for n := range current {
		gone = append(gone, n)
	}
	slices.Sort(gone)
	for _, n := range gone {
		lines = append(lines, "- "+n)
	}
	fmt.Fprintf(w, "dry run: %s would get %d new, %d changed, %d removed, %d unchanged files\n", c.Out, added, changed, len(gone), same)
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// diffLines returns a minimal line diff ("-old", "+new", and unchanged
// lines next to changes as context), at most limit lines.
func diffLines(a, b string, limit int) []string {
	x, y := strings.Split(strings.TrimSuffix(a, "\n"), "\n"), strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	if len(x)*len(y) > 4_000_000 {
		return []string{fmt.Sprintf("(%d → %d lines: too large to diff)", len(x), len(y))}
	}
	// Longest common subsequence, then walk it.
	lcs := make([][]int32, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte
		text string
	}
	var ops []op
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops = append(ops, op{' ', x[i]})
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, op{'+', y[j]})
			j++
		default:
			ops = append(ops, op{'-', x[i]})
			i++
		}
	}
	const context = 2
	var out []string
	for k, o := range ops {
		near := false
		for d := max(0, k-context); d <= min(len(ops)-1, k+context); d++ {
			near = near || ops[d].kind != ' '
		}
		if !near {
			continue
		}
		if len(out) == limit {
			out = append(out, "…")
			break
		}
		out = append(out, string(o.kind)+" "+o.text)
	}
	return out
}
