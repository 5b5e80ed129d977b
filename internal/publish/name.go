package publish

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on names that come from remote data (secret keys, object keys,
// archive entries).
const (
	MaxNameLen    = 4096 // a whole relative path
	MaxSegmentLen = 255  // one path element (NAME_MAX)
)

// CheckName refuses a name from remote data that could escape the target or
// confuse a reader: empty, absolute, "..", ".", backslashes, NUL and other
// control bytes, invalid UTF-8, dot-lookalikes (U+FF0E fullwidth full stop,
// U+2024 one dot leader) used as path elements, names that start with ".."
// (reserved for the publish layout), and over-long names. With nested, "/"
// separates directories; otherwise a name is one element. Legal names such as
// "a..b" pass.
func CheckName(name string, nested bool) error {
	bad := func(why string) error { return fmt.Errorf("name %q: %s", clip(name), why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxNameLen))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	case strings.ContainsRune(name, '\\'):
		return bad("contains a backslash")
	case !nested && strings.Contains(name, "/"):
		return bad(`contains "/"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return bad("contains a control character")
		}
	}
	ascii := isASCII(name)
	for i, seg := range strings.Split(name, "/") {
		canon := seg
		if !ascii {
			canon = dotLookalikes.Replace(seg)
		}
		switch {
		case seg == "" && i > 0:
			return bad("empty path element (//)")
		case canon == "." || canon == "..":
			return bad(`"." or ".." as a path element`)
		case i == 0 && strings.HasPrefix(canon, ".."):
			return bad(`starts with ".." (reserved)`)
		case len(seg) > MaxSegmentLen:
			return bad(fmt.Sprintf("a path element is longer than %d bytes", MaxSegmentLen))
		}
	}
	return nil
}

// dotLookalikes maps the characters that render as "." to ".".
var dotLookalikes = strings.NewReplacer("\uff0e", ".", "\u2024", ".", "\ufe52", ".")

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
