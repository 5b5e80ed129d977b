package jsonpath

import (
	"errors"
	"testing"
)

func TestPath(t *testing.T) {
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
		p, err := Parse(tc.path)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.path, err)
		}
		v, err := p.Eval(doc)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if got := Text(v); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.path, got, tc.want)
		}
	}
	for _, missing := range []string{".nope", ".list[5]", ".status.x", ".list.a", ".o[0]"} {
		p, _ := Parse(missing)
		if _, err := p.Eval(doc); !errors.Is(err, ErrMissing) {
			t.Errorf("%s: err = %v, want missing", missing, err)
		}
	}
	for _, bad := range []string{".a[", ".a[x]", ".a[-1]", `."unterminated`, "..a", ".a]"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	p, _ := Parse(".a")
	if _, err := p.Eval([]byte("<html>")); err == nil {
		t.Error("non-JSON body accepted")
	}
}

func TestSelectOnDecodedValue(t *testing.T) {
	doc := map[string]any{"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}}
	p, err := Parse(".status.conditions[0].status")
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Select(doc)
	if err != nil || Text(v) != "True" {
		t.Fatalf("got %v, %v", v, err)
	}
}
