package publish

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

func TestCheckName(t *testing.T) {
	good := []string{"a", "a..b", "x..", ".env", "dir/file", "a/b/c.txt", "ünïcode", "with space", strings.Repeat("n", 255),
		"日本語/ファイル.txt", "ﬁle" /* a ligature: NFKC "file" */, "a\u2024b" /* one dot leader inside a name */}
	for _, n := range good {
		if err := CheckName(n, true); err != nil {
			t.Errorf("CheckName(%q) = %v", n, err)
		}
	}
	bad := map[string]string{
		"":                         "empty",
		"/abs":                     "absolute",
		"../x":                     `".." as a path element`,
		"a/../../x":                `".." as a path element`,
		"prefix/..":                `".." as a path element`,
		"./x":                      `"." or ".."`,
		`a\b`:                      "backslash",
		"x\x00y":                   "control",
		"x\ny":                     "control",
		"\uff0e\uff0e/x":           `".." as a path element`,
		"a/\u2024\u2024":           `".." as a path element`,
		"a/\u2025":                 `".." as a path element`, // two dot leader
		"a/\ufe52":                 `".." as a path element`,
		"x\u0085y":                 "control", // C1: next line
		"x\u009by":                 "control", // C1: CSI
		"a\uff0fb":                 `reads as "/"`,
		"a\uff3cb":                 `reads as "/" or "\"`, // fullwidth reverse solidus
		"\u2025x":                  "reserved",
		"..data":                   "reserved",
		"..x":                      "reserved",
		"a//b":                     "empty path element",
		"\xff":                     "UTF-8",
		strings.Repeat("n", 256):   "longer than 255",
		strings.Repeat("a/", 2100): "longer than 4096",
	}
	for n, want := range bad {
		err := CheckName(n, true)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckName(%q) = %v, want %q", clip(n), err, want)
		}
	}
	if err := CheckName("a/b", false); err == nil {
		t.Error(`"/" accepted in a flat name`)
	}
}

// A name CheckName accepts stays below the directory it is joined to, reads
// as no "." or ".." element in any Unicode compatibility form, holds no
// control character, and can be created there.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a", "a..b", "../x", "a/\u2025", "x\u0085y", "\uff0e\uff0e", "a\uff0fb", "日本/語", ".env", "a//b", "..data"} {
		f.Add(s)
	}
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name, true) != nil {
			return
		}
		joined := filepath.Join(base, name)
		if !strings.HasPrefix(joined, base+string(filepath.Separator)) {
			t.Fatalf("%q joins to %q, outside %q", name, joined, base)
		}
		for _, r := range name {
			if unicode.IsControl(r) {
				t.Fatalf("%q holds the control character %U", name, r)
			}
		}
		for _, seg := range strings.Split(name, "/") {
			if n := norm.NFKC.String(seg); n == "." || n == ".." || strings.ContainsAny(n, `/\`) {
				t.Fatalf("%q: the element %q reads as %q", name, seg, n)
			}
		}
		if strings.HasPrefix(norm.NFKC.String(name), "..") {
			t.Fatalf("%q reads as a reserved ..name", name)
		}
		root, err := os.OpenRoot(base)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		dir := filepath.Dir(name)
		if dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil && !errors.Is(err, syscall.ENAMETOOLONG) && !errors.Is(err, syscall.ENOTDIR) && !errors.Is(err, fs.ErrExist) {
				t.Fatalf("%q: %v", name, err)
			}
		}
	})
}
