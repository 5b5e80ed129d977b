package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/redact"
)

func TestFormatsAndLevels(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Options{Format: "json", Level: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "n", 3)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want only the warning:\n%s", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if m["msg"] != "shown" || m["n"] != float64(3) {
		t.Errorf("record = %v", m)
	}

	buf.Reset()
	l, _ = New(&buf, Options{Level: "debug"})
	l.Debug("dbg")
	if !strings.Contains(buf.String(), "level=DEBUG msg=dbg") {
		t.Errorf("text debug line missing: %q", buf.String())
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{{Format: "xml"}, {Level: "loud"}} {
		if _, err := New(&bytes.Buffer{}, o); err == nil {
			t.Errorf("New(%+v) accepted invalid options", o)
		}
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

func TestSecretsAreScrubbedFromAttributes(t *testing.T) {
	const canary = "canary-LOG-7f3a9"
	redact.Register(canary)
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		l, _ := New(&buf, Options{Format: format})
		u, _ := url.Parse("postgres://app:pw-in-url@db/x")
		l.Info("x",
			"error", errors.New("auth failed for "+canary),
			"s", "value "+canary,
			"stringer", stringer{canary},
			"list", []string{canary},
			"url", u,
		)
		out := buf.String()
		for _, leak := range []string{canary, "pw-in-url"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s log leaks %q: %s", format, leak, out)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s log shows no redaction: %s", format, out)
		}
	}
}

func TestDurationsAreReadableInJSON(t *testing.T) {
	var buf bytes.Buffer
	l, _ := New(&buf, Options{Format: "json"})
	l.Info("x", "elapsed", 1500*time.Millisecond)
	if !strings.Contains(buf.String(), `"elapsed":"1.5s"`) {
		t.Errorf("duration not rendered as text: %s", buf.String())
	}
}
