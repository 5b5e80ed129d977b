package git

import "testing"

// Submodule URLs resolve as git resolves them, for every URL form a
// repository may have; credentials follow only to the same host and port.
func TestSubmoduleURLs(t *testing.T) {
	for _, tc := range []struct{ super, sub, want string }{
		{"https://git.example.com/org/site.git", "../lib.git", "https://git.example.com/org/lib.git"},
		{"https://git.example.com/org/site.git", "./lib", "https://git.example.com/org/site.git/lib"},
		{"ssh://git@git.example.com/org/site.git", "../../other/lib.git", "ssh://git@git.example.com/other/lib.git"},
		{"git@git.example.com:org/site.git", "../lib.git", "ssh://git@git.example.com/org/lib.git"},
		{"file:///srv/git/site", "../lib", "file:///srv/git/lib"},
		{"https://git.example.com/org/site.git", "https://elsewhere.example/lib.git", "https://elsewhere.example/lib.git"},
	} {
		got, err := submoduleURL(tc.super, tc.sub)
		if err != nil || got != tc.want {
			t.Errorf("%s + %s = %q, %v; want %q", tc.super, tc.sub, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"https://h.example/a.git", "https://h.example/b.git", true},
		{"https://h.example/a.git", "https://h.example:8443/b.git", false},
		{"https://h.example/a.git", "http://h.example/b.git", false},
		{"https://h.example/a.git", "https://evil.example/b.git", false},
		{"git@h.example:a.git", "ssh://git@h.example/b.git", true},
	} {
		if got := sameHost(tc.a, tc.b); got != tc.same {
			t.Errorf("sameHost(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}
