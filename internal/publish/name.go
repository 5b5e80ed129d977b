package publish

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on names that come from remote data (secret keys, object keys,
// archive entries).
const (
	MaxNameLen    = 4096 // a whole relative path
	MaxSegmentLen = 255  // one path element (NAME_MAX)
)

// CheckName refuses a name from remote data that could escape the target or
// confuse a reader, by rule: empty, absolute, over-long, not valid UTF-8, a
// backslash, a control character (C0, DEL or C1), or a path element whose
// compatibility form (NFKC: how look-alikes such as U+FF0E, U+2024, U+2025
// or U+FF0F read) contains "/" or "\" or is "." or "..", and names that
// start with ".." (reserved for the publish layout). With nested, "/"
// separates directories; otherwise a name is one element. Legal names such
// as "a..b" pass.
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
	ascii := isASCII(name)
	for _, r := range name {
		if unicode.IsControl(r) {
			return bad("contains a control character")
		}
	}
	for i, seg := range strings.Split(name, "/") {
		canon := seg
		if !ascii {
			canon = norm.NFKC.String(seg)
		}
		switch {
		case seg == "" && i > 0:
			return bad("empty path element (//)")
		case canon == "." || canon == "..":
			return bad(`"." or ".." as a path element`)
		case !ascii && strings.ContainsAny(canon, "/\\"):
			return bad(`a path element has a character that reads as "/" or "\"`)
		case i == 0 && strings.HasPrefix(canon, ".."):
			return bad(`starts with ".." (reserved)`)
		case len(seg) > MaxSegmentLen:
			return bad(fmt.Sprintf("a path element is longer than %d bytes", MaxSegmentLen))
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Clip shortens a name from outside for a message: a 1 MB link target must
// not become a 1 MB error line.
func Clip(s string) string { return clip(s) }

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
