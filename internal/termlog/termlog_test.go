package termlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/initbox/initbox/internal/redact"
)

func TestWriteExplicitPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(path, []byte("an older, longer message from a previous run"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, "wait: timed out\nwaiting for tcp://db:5432"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "wait: timed out waiting for tcp://db:5432" {
		t.Fatalf("got %q: want one line, old content truncated", got)
	}
}

func TestWriteUnwritableExplicitPathFails(t *testing.T) {
	err := Write(filepath.Join(t.TempDir(), "missing-dir", "log"), "x")
	if err == nil || !strings.Contains(err.Error(), "termination message") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultPathAbsentIsSilent(t *testing.T) {
	if _, err := os.Stat(DefaultPath); err == nil {
		t.Skip(DefaultPath + " exists on this machine")
	}
	if err := Write("", "x"); err != nil {
		t.Fatalf("Write with no termination log present: %v", err)
	}
}

func TestFormatScrubsAndTruncates(t *testing.T) {
	redact.Register("canary-TERM-123")
	got := Format("login failed: canary-TERM-123 at https://u:p@vault")
	if strings.Contains(got, "canary-TERM-123") || strings.Contains(got, "u:p@") {
		t.Fatalf("secret in termination message: %q", got)
	}
	long := strings.Repeat("é", MaxBytes) // 2 bytes each
	got = Format(long)
	if len(got) > MaxBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Fatalf("len=%d valid=%v", len(got), utf8.ValidString(got))
	}
}
