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
	// labels are the series' labels: command="fetch", and step="…" in a
	// plan.
	labels string
	// group marks a plan's own series (run --watch): readiness, changes
	// and notifications only; its steps report their passes.
	group bool

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
	return &metrics{labels: `command="` + escape(command) + `"`, expiries: map[string]time.Time{}}
}

// newStepMetrics are the series of a plan's step.
func newStepMetrics(command, step string) *metrics {
	m := newMetrics(command)
	m.labels += `,step="` + escape(step) + `"`
	return m
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

// family is one metric: its HELP and TYPE once, then a sample per series.
type family struct {
	name, typ, help string
	all             bool // also a plan's own series (metrics.group)
	value           func(m *metrics) string
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func count(v int64) string { return strconv.FormatInt(v, 10) }

var families = []family{
	{"initbox_watch_ready", "gauge", "1 once the first pass has published everything.", true, func(m *metrics) string {
		if m.ready {
			return "1"
		}
		return "0"
	}},
	{"initbox_watch_last_success_timestamp_seconds", "gauge", "When the last pass succeeded (Unix time).", false, func(m *metrics) string { return ts(m.lastSuccess) }},
	{"initbox_watch_last_pass_duration_seconds", "gauge", "How long the last successful pass took.", false, func(m *metrics) string {
		return strconv.FormatFloat(m.lastDuration.Seconds(), 'f', 3, 64)
	}},
	{"initbox_watch_next_refresh_timestamp_seconds", "gauge", "When the next pass is due (Unix time).", false, func(m *metrics) string { return ts(m.next) }},
	{"initbox_watch_passes_total", "counter", "Passes that succeeded, the first included.", false, func(m *metrics) string { return count(m.passes) }},
	{"initbox_watch_failures_total", "counter", "Passes that failed (the published files were kept).", false, func(m *metrics) string { return count(m.failures) }},
	{"initbox_watch_consecutive_failures", "gauge", "Passes failed since the last success.", false, func(m *metrics) string { return count(m.consecutive) }},
	{"initbox_watch_changes_total", "counter", "Passes that republished something.", true, func(m *metrics) string { return count(m.changes) }},
}

// writeMetrics writes the series of ms (a command's, or a plan's and its
// steps') family by family, as the text format asks.
func writeMetrics(w io.Writer, ms []*metrics) {
	for _, m := range ms {
		m.mu.Lock()
		defer m.mu.Unlock()
	}
	for _, f := range families {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, m := range ms {
			if f.all || !m.group {
				fmt.Fprintf(w, "%s{%s} %s\n", f.name, m.labels, f.value(m))
			}
		}
	}
	fmt.Fprintf(w, "# HELP initbox_watch_notifications_total Notifications of the application, by result.\n# TYPE initbox_watch_notifications_total counter\n")
	for _, m := range ms {
		fmt.Fprintf(w, "initbox_watch_notifications_total{%s,result=\"ok\"} %d\n", m.labels, m.notifyOK)
		fmt.Fprintf(w, "initbox_watch_notifications_total{%s,result=\"failed\"} %d\n", m.labels, m.notifyFailed)
	}
	header := false
	for _, m := range ms {
		for _, ref := range slices.Sorted(maps.Keys(m.expiries)) {
			if !header {
				fmt.Fprintf(w, "# HELP initbox_watch_expiry_timestamp_seconds When a lease or certificate expires (Unix time), by reference.\n# TYPE initbox_watch_expiry_timestamp_seconds gauge\n")
				header = true
			}
			fmt.Fprintf(w, "initbox_watch_expiry_timestamp_seconds{%s,ref=\"%s\"} %s\n", m.labels, escape(ref), ts(m.expiries[ref]))
		}
	}
}

// escape escapes a label value as the text format asks.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
