package publish

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	good := []string{"a", "a..b", "x..", ".env", "dir/file", "a/b/c.txt", "ünïcode", "with space", strings.Repeat("n", 255)}
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
