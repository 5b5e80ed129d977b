package watch

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// metrics is what /metrics reports, in Prometheus's text format.
type metrics struct {
	command string

	mu           sync.Mutex
	ready        bool
	lastSuccess  time.Time
	lastDuration time.Duration
	passes       int64
	failures     int64
	consecutive  int64
	changes      int64
	next         time.Time
	expiries     map[string]time.Time
	notifyOK     int64
	notifyFailed int64
}

func newMetrics(command string) *metrics {
	return &metrics{command: command, expiries: map[string]time.Time{}}
}

func (m *metrics) passed(r Report, start, end time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.passes++
	m.consecutive = 0
	m.lastSuccess, m.lastDuration = end, end.Sub(start)
	if r.Expiries != nil {
		m.expiries = maps.Clone(r.Expiries)
	}
}

func (m *metrics) failed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures++
	m.consecutive++
}

func (m *metrics) changed() {
	m.mu.Lock()
	m.changes++
	m.mu.Unlock()
}

func (m *metrics) notified(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.notifyFailed++
		return
	}
	m.notifyOK++
}

func (m *metrics) setReady() {
	m.mu.Lock()
	m.ready = true
	m.mu.Unlock()
}

func (m *metrics) isReady() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready
}

func (m *metrics) setNext(t time.Time) {
	m.mu.Lock()
	m.next = t
	m.mu.Unlock()
}

// write writes every metric, each with its HELP and TYPE lines.
func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cmd := `command="` + escape(m.command) + `"`
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "0"
		}
		return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
	}
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	one := func(name, typ, help, value string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s{%s} %s\n", name, help, name, typ, name, cmd, value)
	}
	one("initbox_watch_ready", "gauge", "1 once the first pass has published everything.", b(m.ready))
	one("initbox_watch_last_success_timestamp_seconds", "gauge", "When the last pass succeeded (Unix time).", ts(m.lastSuccess))
	one("initbox_watch_last_pass_duration_seconds", "gauge", "How long the last successful pass took.", strconv.FormatFloat(m.lastDuration.Seconds(), 'f', 3, 64))
	one("initbox_watch_next_refresh_timestamp_seconds", "gauge", "When the next pass is due (Unix time).", ts(m.next))
	one("initbox_watch_passes_total", "counter", "Passes that succeeded, the first included.", strconv.FormatInt(m.passes, 10))
	one("initbox_watch_failures_total", "counter", "Passes that failed (the published files were kept).", strconv.FormatInt(m.failures, 10))
	one("initbox_watch_consecutive_failures", "gauge", "Passes failed since the last success.", strconv.FormatInt(m.consecutive, 10))
	one("initbox_watch_changes_total", "counter", "Passes that republished something.", strconv.FormatInt(m.changes, 10))
	fmt.Fprintf(w, "# HELP initbox_watch_notifications_total Notifications of the application, by result.\n# TYPE initbox_watch_notifications_total counter\n")
	fmt.Fprintf(w, "initbox_watch_notifications_total{%s,result=\"ok\"} %d\n", cmd, m.notifyOK)
	fmt.Fprintf(w, "initbox_watch_notifications_total{%s,result=\"failed\"} %d\n", cmd, m.notifyFailed)
	if len(m.expiries) > 0 {
		fmt.Fprintf(w, "# HELP initbox_watch_expiry_timestamp_seconds When a lease or certificate expires (Unix time), by reference.\n# TYPE initbox_watch_expiry_timestamp_seconds gauge\n")
		for _, ref := range slices.Sorted(maps.Keys(m.expiries)) {
			fmt.Fprintf(w, "initbox_watch_expiry_timestamp_seconds{%s,ref=\"%s\"} %s\n", cmd, escape(ref), ts(m.expiries[ref]))
		}
	}
}

// escape escapes a label value as the text format asks.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
