// Package testcorpus holds test inputs shared by the tests of several
// packages (test-only: nothing in the binary imports it).
package testcorpus

import "strings"

// SecretValues is a generated corpus of secret values built to break env
// files: every special byte class at the
// start, in the middle, at the end and doubled; quotes in combination;
// backslash runs; line ends; Unicode line separators; commands a shell
// would run; long values.
func SecretValues(canary string) []string {
	specials := []string{"'", `"`, "$", "${HOME}", "$HOME", "$(touch " + canary + ")", "`touch " + canary + "`", `\`, `\\`, `\\\`,
		"#", " #", " ", "\t", "\n", "\r\n", "\r", "=", ";", "&", "|", "<", ">", "*", "?", "[", "~", "!", "{", "}", "%", "%s",
		"\u2028", "\u2029", "\u0085", "é", "日本", "\x00", "\x01", "\x7f", "\xff", "\\n", "\\t", "\\'", `\"`, "'\"", `"'`, "$'x'", "''", `""`}
	var vals []string
	for _, s := range specials {
		vals = append(vals, s, "a"+s, s+"a", "a"+s+"b", s+s, " "+s+" ")
	}
	vals = append(vals, "", " ", "plain-Value_1.2:3@4/5%6+7=8,9", "C:\\dir\\", "it's\tok", "p${HOME}w", "a\\\\b", "x\\y",
		"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
		`{"user": "app", "roles": ["a", "b"], "html": "<b>&</b>"}`,
		strings.Repeat("x", 64<<10), strings.Repeat("y", 70<<10), strings.Repeat("'\"$\\", 1000))
	return vals
}
