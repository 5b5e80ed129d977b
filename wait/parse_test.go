package wait

import (
	"testing"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		spec     string
		match    []int
		mismatch []int
	}{
		{"", []int{200, 204, 299}, []int{199, 301, 404, 503}},
		{"200,204", []int{200, 204}, []int{201, 299}},
		{"2xx,3xx", []int{200, 302, 399}, []int{404}},
		{"200-204, 404", []int{200, 203, 204, 404}, []int{205, 403}},
		{"5XX", []int{500, 503}, []int{200}},
	}
	for _, tc := range tests {
		s, err := parseStatus(tc.spec)
		if err != nil {
			t.Fatalf("parseStatus(%q): %v", tc.spec, err)
		}
		for _, c := range tc.match {
			if !s.match(c) {
				t.Errorf("%q should match %d", tc.spec, c)
			}
		}
		for _, c := range tc.mismatch {
			if s.match(c) {
				t.Errorf("%q should not match %d", tc.spec, c)
			}
		}
	}
	for _, bad := range []string{"abc", "6xx", "99", "600", "300-200", "2xx,", "20x"} {
		if _, err := parseStatus(bad); err == nil {
			t.Errorf("parseStatus(%q) accepted", bad)
		}
	}
}

func TestJSONPath(t *testing.T) {
	doc := []byte(`{"status":"UP","n":3,"f":1.50,"ok":true,"nil":null,"list":[{"a":"x"},{"a":"y"}],"o":{"k":[1,2]},"dot.key":{"in":"side"},"":"empty"}`)
	tests := []struct {
		path, want string
	}{
		{".status", "UP"},
		{"status", "UP"},
		{"$.status", "UP"},
		{".n", "3"},
		{".f", "1.50"},
		{".ok", "true"},
		{".nil", "null"},
		{".list[1].a", "y"},
		{".o.k", "[1,2]"},
		{".o", `{"k":[1,2]}`},
		{`."dot.key".in`, "side"},
		{`.["dot.key"].in`, "side"},
		{`.list[0]`, `{"a":"x"}`},
	}
	for _, tc := range tests {
		p, err := parseJSONPath(tc.path)
		if err != nil {
			t.Fatalf("parseJSONPath(%q): %v", tc.path, err)
		}
		v, err := p.eval(doc)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if got := jsonText(v); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.path, got, tc.want)
		}
	}
	for _, missing := range []string{".nope", ".list[5]", ".status.x", ".list.a", ".o[0]"} {
		p, _ := parseJSONPath(missing)
		if _, err := p.eval(doc); err != errPathMissing {
			t.Errorf("%s: err = %v, want missing", missing, err)
		}
	}
	for _, bad := range []string{".a[", ".a[x]", ".a[-1]", `."unterminated`, "..a", ".a]"} {
		if _, err := parseJSONPath(bad); err == nil {
			t.Errorf("parseJSONPath(%q) accepted", bad)
		}
	}
	p, _ := parseJSONPath(".a")
	if _, err := p.eval([]byte("<html>")); err == nil {
		t.Error("non-JSON body accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"0", true}, {"5", true}, {"Wed, 21 Oct 2015 07:28:00 GMT", true}, {"soon", false}, {"", false}, {"-1", false}} {
		if _, ok := retryAfter(tc.in); ok != tc.ok {
			t.Errorf("retryAfter(%q) ok = %v", tc.in, ok)
		}
	}
	if d, _ := retryAfter("86400"); d != maxRetryAfter {
		t.Errorf("a day-long Retry-After is not capped: %v", d)
	}
}
