// Package testlog captures what a test's code logs through log/slog.
//
//	logs := testlog.Capture(t) // until the test ends
//	… run the code …
//	if !strings.Contains(logs.String(), "target ready") { … }
package testlog

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// Buffer collects log output; safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Capture makes the default slog logger write text at debug level into a new
// Buffer, and restores the previous logger when the test ends.
func Capture(t testing.TB) *Buffer {
	b := &Buffer{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	return b
}
