// Package logging sets up the log/slog logger every command writes to stderr
// (docs/design.md §3): text or JSON, a level, and every attribute value passed
// through redact.Scrub, so a secret that slips into an error still never
// reaches the log.
//
//	logger, err := logging.New(os.Stderr, logging.Options{Format: "json", Level: "debug"})
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/initbox/initbox/internal/redact"
)

// Options choose the log shape.
type Options struct {
	// Format is "text" (default) or "json".
	Format string
	// Level is "debug", "info" (default), "warn" or "error".
	Level string
}

// Validate checks the options.
func (o Options) Validate() error {
	if _, err := o.level(); err != nil {
		return err
	}
	switch strings.ToLower(o.Format) {
	case "", "text", "json":
		return nil
	}
	return fmt.Errorf("--log-format %q: use text or json", o.Format)
}

func (o Options) level() (slog.Level, error) {
	switch strings.ToLower(o.Level) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: use debug, info, warn or error", o.Level)
}

// New returns a logger writing to w.
func New(w io.Writer, o Options) (*slog.Logger, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	lvl, _ := o.level()
	ho := &slog.HandlerOptions{Level: lvl, ReplaceAttr: scrubAttr}
	if strings.EqualFold(o.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return slog.New(slog.NewTextHandler(w, ho)), nil
}

// scrubAttr hides secrets in every string, error and Stringer value. Numbers,
// durations and times pass through untouched.
func scrubAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		// "1.5s" in both formats; JSON would otherwise print nanoseconds.
		a.Value = slog.StringValue(a.Value.Duration().String())
	case slog.KindString:
		a.Value = slog.StringValue(redact.Scrub(a.Value.String()))
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case error:
			a.Value = slog.StringValue(redact.Scrub(v.Error()))
		case fmt.Stringer:
			a.Value = slog.StringValue(redact.Scrub(v.String()))
		case []string:
			s := make([]string, len(v))
			for i := range v {
				s[i] = redact.Scrub(v[i])
			}
			a.Value = slog.AnyValue(s)
		}
	}
	return a
}
