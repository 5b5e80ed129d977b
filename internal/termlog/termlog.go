// Package termlog writes the termination message: one secret-free line that
// Kubernetes shows in `kubectl describe pod` when a container fails
// (docs/design.md §2).
//
//	termlog.Write("", "wait: timed out after 5m0s waiting for tcp://db:5432")
package termlog

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/initbox/initbox/internal/redact"
)

// DefaultPath is where the kubelet mounts the termination message file.
const DefaultPath = "/dev/termination-log"

// MaxBytes is the most the message may hold; the kubelet reads 4 KiB.
const MaxBytes = 4096

// Write writes msg, scrubbed, on one line, cut to MaxBytes. With path "" it
// writes to DefaultPath only when that file exists and is writable, and is
// silent otherwise: outside Kubernetes there is nothing to write to.
func Write(path, msg string) error {
	line := Format(msg)
	flags := os.O_WRONLY | os.O_TRUNC
	if path == "" {
		path = DefaultPath
		f, err := os.OpenFile(path, flags, 0)
		if err != nil {
			return nil // no termination log here
		}
		return finish(f, path, line)
	}
	f, err := os.OpenFile(path, flags|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("writing termination message: %w", err)
	}
	return finish(f, path, line)
}

func finish(f *os.File, path, line string) error {
	_, err := f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing termination message to %s: %w", path, err)
	}
	return nil
}

// Format returns msg as it is written: scrubbed, on one line, at most
// MaxBytes, never cut inside a UTF-8 sequence.
func Format(msg string) string {
	line := strings.Join(strings.Fields(redact.Scrub(msg)), " ")
	if len(line) <= MaxBytes {
		return line
	}
	const ellipsis = "…"
	cut := MaxBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return line[:cut] + ellipsis
}
