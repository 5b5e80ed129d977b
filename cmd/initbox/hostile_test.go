package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Values an attacker wrote cannot crash render, hang it, or fill the
// memory or the disk: every case is one line on stderr, no Go runtime dump,
// the old output kept. Run through the built binary: a fatal error (out of
// memory, stack overflow) can only be seen there.
func TestRenderCannotBeCrashed(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	os.WriteFile(out, []byte("old"), 0o644)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	values := write("values.yaml", "count: 10000000000\nbig: 1000000000000000\n") // not "n": YAML 1.1 reads it as false, as Helm does
	deep := write("deep.toml", "a = "+strings.Repeat("[", 3_000_000)+strings.Repeat("]", 3_000_000)+"\n")
	for _, tc := range []struct {
		name, tmpl string
		args       []string
		code       int
		want       string
	}{
		{"until 10^10", `{{ range until (int .Values.count) }}x{{ end }}`, nil, 1, "until 10000000000: more than 1048576"},
		{"repeat 10^10", `{{ repeat (int .Values.count) "x" }}`, nil, 1, "repeat 10000000000"},
		{"indent 10^10", `{{ indent (int .Values.count) "x" }}`, nil, 1, "indent 10000000000"},
		{"untilStep", `{{ untilStep 0 (int .Values.count) 1 }}`, nil, 1, "more than 1048576 items"},
		{"a gigabyte of output", `{{ range until 1000000 }}{{ repeat 1000 "x" }}{{ end }}`, nil, 1, "the output is larger than --max-bytes"},
		{"range over 10^15", `{{ range (int64 .Values.big) }}{{ end }}`, []string{"--timeout", "2s"}, 124, "rendering took longer than --timeout 2s"},
		{"TOML nested 3 million deep", `{{ .Data.d.a }}`, []string{"--data", "d=" + deep}, 1, "nested more than 1000 deep"},
		{"a values file over --max-bytes", `x`, []string{"--max-bytes", "1K", "--values", deep}, 1, "larger than 1024 bytes"},
		{"include recursion", `{{ define "r" }}{{ include "r" . }}{{ end }}{{ include "r" . }}`, nil, 1, "more than 1000 nested includes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := write("t.tmpl", tc.tmpl)
			args := append([]string{"render", tmpl, "--values", values, "--out", out}, tc.args...)
			cmd := command(t, "initbox", args...)
			b, err := cmd.CombinedOutput()
			text := string(b)
			if got := exitCode(err); got != tc.code || !strings.Contains(text, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%.2000s", got, tc.code, tc.want, text)
			}
			if strings.Contains(text, "goroutine ") || strings.Contains(text, "fatal error") || strings.Contains(text, "panic") {
				t.Fatalf("a Go runtime dump reached the user:\n%.2000s", text)
			}
			if lines := strings.Count(strings.TrimSpace(text), "\n") + 1; lines != 1 || len(text) > 4096 {
				t.Fatalf("want one short line, got %d lines, %d bytes:\n%.2000s", lines, len(text), text)
			}
			if b, _ := os.ReadFile(out); string(b) != "old" {
				t.Fatalf("the old output is gone: %q", b)
			}
		})
	}
}
