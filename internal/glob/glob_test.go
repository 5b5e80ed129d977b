package glob

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*.yaml", "app.yaml", true},
		{"*.yaml", "conf/app.yaml", false}, // * stays within one element
		{"**/*.yaml", "conf/app.yaml", true},
		{"**/*.yaml", "app.yaml", true},
		{"conf/**", "conf/a/b/c", true},
		{"conf/**", "other/a", false},
		{"a/**/z.txt", "a/b/c/z.txt", true},
		{"a/**/z.txt", "a/z.txt", true},
		{"a/**/z.txt", "b/z.txt", false},
		{"?.txt", "a.txt", true},
		{"?.txt", "ab.txt", false},
		{"tmp/**", "tmpfile", false},
	} {
		if got, err := Match(tc.pattern, tc.name); err != nil || got != tc.want {
			t.Errorf("Match(%q, %q) = %v, %v; want %v", tc.pattern, tc.name, got, err, tc.want)
		}
	}
	if _, err := Match("[", "x"); err == nil {
		t.Error("a bad pattern was accepted")
	}
}

func TestKeep(t *testing.T) {
	for _, tc := range []struct {
		include, exclude []string
		name             string
		want             bool
	}{
		{nil, nil, "a/b.yaml", true},
		{[]string{"**/*.yaml"}, nil, "a/b.yaml", true},
		{[]string{"**/*.yaml"}, nil, "a/b.json", false},
		{[]string{"**/*.yaml", "*.json"}, nil, "b.json", true},
		{nil, []string{"tmp/**"}, "tmp/x", false},
		{[]string{"**"}, []string{"*.md"}, "README.md", false},
	} {
		if got, err := Keep(tc.include, tc.exclude, tc.name); err != nil || got != tc.want {
			t.Errorf("Keep(%q, %q, %q) = %v, %v; want %v", tc.include, tc.exclude, tc.name, got, err, tc.want)
		}
	}
	if _, err := Keep(nil, []string{"["}, "x"); err == nil || !strings.Contains(err.Error(), `--exclude "["`) {
		t.Errorf("a bad exclude: %v", err)
	}
}
