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
