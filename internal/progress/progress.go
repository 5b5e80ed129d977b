// Package progress logs how a long transfer is going, every few seconds,
// while it lasts: done/total, bytes, rate and ETA.
package progress

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultEvery is how often a Meter logs.
const DefaultEvery = 5 * time.Second

// A Meter counts items and bytes done; Start logs them until stopped.
type Meter struct {
	What       string // "objects", "files"
	Total      int64  // items; 0 if unknown
	TotalBytes int64  // 0 if unknown
	Done       atomic.Int64
	Bytes      atomic.Int64
}

// Start logs a progress line every `every` (0: DefaultEvery) until stop is
// called; a transfer shorter than that logs nothing.
func (m *Meter) Start(ctx context.Context, every time.Duration) (stop func()) {
	if every <= 0 {
		every = DefaultEvery
	}
	start := time.Now()
	t := time.NewTicker(every)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-t.C:
				slog.InfoContext(ctx, "progress", m.attrs(time.Since(start))...)
			}
		}
	}()
	return func() { t.Stop(); close(done) }
}

func (m *Meter) attrs(elapsed time.Duration) []any {
	b := m.Bytes.Load()
	rate := float64(b) / elapsed.Seconds()
	items := fmt.Sprint(m.Done.Load())
	bytes := Human(b)
	if m.Total > 0 {
		items += fmt.Sprintf("/%d", m.Total)
	}
	attrs := []any{m.What, items}
	if m.TotalBytes > 0 {
		bytes += "/" + Human(m.TotalBytes)
	}
	attrs = append(attrs, "bytes", bytes, "rate", Human(int64(rate))+"/s")
	if m.TotalBytes > 0 && rate > 0 {
		attrs = append(attrs, "eta", time.Duration(float64(m.TotalBytes-b)/rate*float64(time.Second)).Round(time.Second))
	}
	return attrs
}

// Human writes a byte count in binary units: 512 B, 1.5 KiB, 3.2 GiB.
func Human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
