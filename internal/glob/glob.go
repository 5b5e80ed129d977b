// Package glob matches slash-separated names (object keys, files of a
// tree) against --include/--exclude patterns.
package glob

import (
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
