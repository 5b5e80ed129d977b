package fetch

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/initbox/initbox/internal/testserver"
)

// values that break naive writers.
var tricky = map[string]any{
	"PLAIN":     "abc-123_./:@%+,",
	"SPACE":     "hello world",
	"SQUOTE":    "it's",
	"DQUOTE":    `say "hi"`,
	"DOLLAR":    "$HOME and ${PATH}", // every format but dotenv holds it (envfile_test.go)
	"BACKSLASH": `C:\path\n`,
	"NEWLINES":  "line1\nline2\n",
	"CRLF":      "a\r\nb",
	"TAB":       "a\tb",
	"HASH":      "#not a comment",
	"EQUALS":    "=leading=",
	"LEADSP":    "  leading",
	"UNICODE":   "ünïcode ✓ 𝄞",
	"EMPTY":     "",
	"PEM":       "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	"MIX":       `'both' "quotes" \ $x` + "\n",
}

// Names that are not variable names, and bytes no dotenv reader holds.
func TestDotenvRefusesWhatItCannotHold(t *testing.T) {
	for name, v := range map[string]map[string]any{
		"control byte":  {"K": "a\x00b"},
		"bell":          {"K": "a\x07b"},
		"not UTF-8":     {"K": "\xff"},
		"bad name":      {"1K": "v"},
		"dash in name":  {"A-B": "v"},
		"dot in name":   {"a.b": "v"},
		"empty name":    {"": "v"},
		"space in name": {"A B": "v"},
	} {
		if _, err := encode(Dotenv, v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Java's own Properties.load is the oracle.
func TestPropertiesReadByJava(t *testing.T) {
	testserver.Needs(t, "a JDK (openjdk-17-jdk-headless)")
	values := map[string]any{"key with space": "v", "k=eq": "=v", "k:colon": "v:", "#hash": "#v", "!bang": "!v"}
	for k, v := range tricky {
		values[k] = v
	}
	b, err := encode(Properties, values)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "app.properties")
	os.WriteFile(file, b, 0o600)
	src, _ := filepath.Abs("testdata/LoadProperties.java")
	out, err := exec.Command("java", src, file).CombinedOutput()
	if err != nil {
		t.Fatalf("java (the JDK's single-file launcher; openjdk-17-jdk-headless): %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "\t")
		var ks, vs string
		if json.Unmarshal([]byte(k), &ks) != nil || json.Unmarshal([]byte(v), &vs) != nil {
			t.Fatalf("bad oracle line %q", line)
		}
		got[ks] = vs
	}
	for k, v := range values {
		if got[k] != v {
			t.Errorf("%q: wrote %q, Java read %q", k, v, got[k])
		}
	}
	if len(got) != len(values) {
		t.Errorf("Java read %d entries, want %d:\n%s", len(got), len(values), b)
	}
}

func TestJSONAndYAMLRoundTrip(t *testing.T) {
	values := map[string]any{"s": "x\ny", "n": json.Number("3"), "f": json.Number("1.5"), "b": true, "nested": map[string]any{"a": []any{"x", json.Number("2")}}}
	b, err := encode(JSON, values)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil || j["s"] != "x\ny" || j["n"] != float64(3) || j["b"] != true {
		t.Fatalf("json: %v %v", j, err)
	}
	if strings.Contains(string(b), `\u003c`) {
		t.Error("HTML escaping in JSON output")
	}
	b, err = encode(YAML, values)
	if err != nil {
		t.Fatal(err)
	}
	var y map[string]any
	if err := yaml.Unmarshal(b, &y); err != nil || y["s"] != "x\ny" || y["n"] != 3 || y["f"] != 1.5 || y["b"] != true {
		t.Fatalf("yaml: %v %v\n%s", y, err, b)
	}
	b, _ = encode(YAML, tricky)
	var ty map[string]any
	yaml.Unmarshal(b, &ty)
	for k, v := range tricky {
		if ty[k] != v {
			t.Errorf("yaml %s: %q → %q", k, v, ty[k])
		}
	}
}

func TestValueBytes(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{"exact\n", "exact\n"},
		{json.Number("42"), "42"},
		{true, "true"},
		{[]any{"-----BEGIN A-----\nx\n-----END A-----\n", "-----BEGIN B-----\ny\n-----END B-----"}, "-----BEGIN A-----\nx\n-----END A-----\n-----BEGIN B-----\ny\n-----END B-----\n"},
		{[]any{json.Number("1"), "a"}, `[1,"a"]`},
		{map[string]any{"a": "b"}, `{"a":"b"}`},
		{nil, "null"},
	}
	for _, tc := range tests {
		if got := string(valueBytes(tc.in)); got != tc.want {
			t.Errorf("valueBytes(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatFor(t *testing.T) {
	for out, want := range map[string]string{"a.json": JSON, "a.YAML": YAML, "a.yml": YAML, "app.env": Dotenv, "x.properties": Properties, "/secrets/": DirFormat, "/s/password": ""} {
		if got := formatFor(out, false); got != want {
			t.Errorf("formatFor(%q) = %q, want %q", out, got, want)
		}
	}
	if formatFor("/s/password", true) != Raw {
		t.Error("a single value defaults to raw")
	}
}
