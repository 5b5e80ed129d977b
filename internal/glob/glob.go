// Package glob matches slash-separated names (object keys, files of a
// tree) against --include/--exclude patterns.
package glob

import (
	"fmt"
	"path"
	"strings"
)

// Match matches a slash-separated name: * and ? within one path
// element, ** across elements.
func Match(pattern, name string) (bool, error) {
	if !strings.Contains(pattern, "**") {
		return path.Match(pattern, name)
	}
	head, tail, _ := strings.Cut(pattern, "**")
	tail = strings.TrimPrefix(tail, "/")
	if head != "" && !strings.HasPrefix(name, head) {
		if ok, err := path.Match(head+"*", name); err != nil || !ok {
			return false, err
		}
	}
	rest := strings.TrimPrefix(name, head)
	if tail == "" {
		return true, nil
	}
	for i := 0; i <= len(rest); i++ {
		if i == 0 || rest[i-1] == '/' {
			if ok, err := Match(tail, rest[i:]); err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// Keep applies --include and --exclude to a name: with includes, the name
// must match one; it must match no exclude.
func Keep(include, exclude []string, name string) (bool, error) {
	if len(include) > 0 {
		in := false
		for _, g := range include {
			ok, err := Match(g, name)
			if err != nil {
				return false, fmt.Errorf("--include %q: %w", g, err)
			}
			in = in || ok
		}
		if !in {
			return false, nil
		}
	}
	for _, g := range exclude {
		ok, err := Match(g, name)
		if err != nil {
			return false, fmt.Errorf("--exclude %q: %w", g, err)
		}
		if ok {
			return false, nil
		}
	}
	return true, nil
}
