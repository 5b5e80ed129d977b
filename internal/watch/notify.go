package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/initbox/initbox/internal/redact"
)

// Notify says how the application hears of a change: a signal to a process
// found by name (the pod shares its process namespace) or by a pid file,
// and/or an HTTP request to a reload endpoint. Zero tells no one (an
// application that watches its files).
type Notify struct {
	Signal  string // HUP, SIGHUP, USR1, … ("" = none)
	Process string // the process's name (its comm or argv[0]'s base name)
	PIDFile string // a file holding the process's pid
	URL     string // POSTed to; a 2xx answer is success
	// Debounce is how long a burst of changes is waited out before one
	// notification; 0 means DefaultDebounce.
	Debounce time.Duration
	// ProcRoot is /proc (tests give another).
	ProcRoot string
}

// DefaultDebounce waits out a burst of changes (several sources rotating
// together) before one notification.
const DefaultDebounce = time.Second

// signals are the signals an application reloads on.
var signals = map[string]syscall.Signal{"HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "WINCH": syscall.SIGWINCH}

func (n Notify) signal() (syscall.Signal, error) {
	name := strings.TrimPrefix(strings.ToUpper(n.Signal), "SIG")
	if s, ok := signals[name]; ok {
		return s, nil
	}
	if v, err := strconv.Atoi(name); err == nil && v > 0 && v < 65 {
		return syscall.Signal(v), nil
	}
	return 0, fmt.Errorf("--on-change-signal %q: use HUP, USR1, USR2, TERM, INT, QUIT, WINCH or a number", n.Signal)
}

// Validate checks the options without looking for the process.
func (n Notify) Validate() error {
	switch {
	case n.Signal != "" && n.Process == "" && n.PIDFile == "":
		return errors.New("--on-change-signal needs --on-change-process NAME (with shareProcessNamespace: true) or --on-change-pid-file FILE")
	case n.Signal == "" && (n.Process != "" || n.PIDFile != ""):
		return errors.New("--on-change-process and --on-change-pid-file need --on-change-signal (e.g. HUP)")
	case n.Process != "" && n.PIDFile != "":
		return errors.New("--on-change-process and --on-change-pid-file: give one")
	case n.Debounce < 0:
		return errors.New("--on-change-debounce must not be negative")
	}
	if n.Signal != "" {
		if _, err := n.signal(); err != nil {
			return err
		}
	}
	if n.URL != "" {
		u, err := url.Parse(n.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--on-change-url %s: write http://HOST:PORT/PATH", redact.URLString(n.URL))
		}
	}
	return nil
}

func (n Notify) enabled() bool { return n.Signal != "" || n.URL != "" }

// notifier tells the application of changes: one notification per burst,
// a failed one retried with backoff until it goes through or a later
// change takes its place.
type notifier struct {
	o       Notify
	m       *metrics
	client  *http.Client
	mu      sync.Mutex
	pending []string
	kick    chan struct{}
	retry   time.Duration // the first wait after a failed notification
}

func newNotifier(o Notify, m *metrics) *notifier {
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	return &notifier{o: o, m: m, kick: make(chan struct{}, 1), retry: time.Second, client: &http.Client{Timeout: 10 * time.Second}}
}

// changed queues a notification for what changed.
func (n *notifier) changed(what []string) {
	if !n.o.enabled() {
		return
	}
	n.mu.Lock()
	n.pending = merge(n.pending, what)
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// maxPending bounds what one notification names.
const maxPending = 64

// merge adds what is not yet in pending, up to maxPending names.
func merge(pending, what []string) []string {
	for _, w := range what {
		if len(pending) < maxPending && !slices.Contains(pending, w) {
			pending = append(pending, w)
		}
	}
	return pending
}

// run delivers notifications until ctx ends.
func (n *notifier) run(ctx context.Context) {
	if !n.o.enabled() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		}
		if !n.debounce(ctx) {
			return
		}
		wait := n.retry
		for {
			n.mu.Lock()
			what := n.pending
			n.pending = nil
			n.mu.Unlock()
			err := n.deliver(ctx, what)
			n.m.notified(err)
			if err == nil {
				slog.InfoContext(ctx, "told the application", "how", n.how(), "changed", what)
				break
			}
			slog.WarnContext(ctx, "telling the application failed; retrying", "how", n.how(), "error", err, "retry_in", wait)
			n.mu.Lock()
			n.pending = merge(what, n.pending)
			n.mu.Unlock()
			t := time.NewTimer(jitter(wait))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			case <-n.kick: // a later change: deliver it with this one, settled
				t.Stop()
				if !n.debounce(ctx) {
					return
				}
			}
			wait = min(2*wait, 30*time.Second)
		}
	}
}

// debounce waits until no change has come for Debounce.
func (n *notifier) debounce(ctx context.Context) bool {
	t := time.NewTimer(n.o.Debounce)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-n.kick:
			t.Reset(n.o.Debounce)
		case <-t.C:
			return true
		}
	}
}

func (n *notifier) how() string {
	var how []string
	if n.o.Signal != "" {
		target := "process " + n.o.Process
		if n.o.PIDFile != "" {
			target = "pid file " + n.o.PIDFile
		}
		how = append(how, "SIG"+strings.TrimPrefix(strings.ToUpper(n.o.Signal), "SIG")+" to "+target)
	}
	if n.o.URL != "" {
		how = append(how, "POST "+redact.URLString(n.o.URL))
	}
	return strings.Join(how, ", ")
}

// deliver sends the signal and the request; both are tried.
func (n *notifier) deliver(ctx context.Context, what []string) error {
	var errs []error
	if n.o.Signal != "" {
		errs = append(errs, n.sendSignal())
	}
	if n.o.URL != "" {
		errs = append(errs, n.post(ctx, what))
	}
	return errors.Join(errs...)
}

func (n *notifier) sendSignal() error {
	sig, _ := n.o.signal()
	pids, err := n.targets()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			return fmt.Errorf("signalling pid %d: %w", pid, err)
		}
	}
	return nil
}

// targets are the pids to signal: the pid file's, or every process named
// Process but this one.
func (n *notifier) targets() ([]int, error) {
	if n.o.PIDFile != "" {
		b, err := os.ReadFile(n.o.PIDFile)
		if err != nil {
			return nil, fmt.Errorf("--on-change-pid-file: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			return nil, fmt.Errorf("--on-change-pid-file %s: %q is not a process id", n.o.PIDFile, strings.TrimSpace(string(b)))
		}
		return []int{pid}, nil
	}
	entries, err := os.ReadDir(n.o.ProcRoot)
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if n.named(pid) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("no process named %s (does the pod set shareProcessNamespace: true, and has the application started?)", n.o.Process)
	}
	return pids, nil
}

// named says whether pid's comm or argv[0]'s base name is Process.
func (n *notifier) named(pid int) bool {
	dir := filepath.Join(n.o.ProcRoot, strconv.Itoa(pid))
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil && strings.TrimSpace(string(b)) == n.o.Process {
		return true
	}
	b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	return argv0 != "" && filepath.Base(argv0) == n.o.Process
}

func (n *notifier) post(ctx context.Context, what []string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.o.URL, strings.NewReader(strings.Join(what, "\n")+"\n"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("User-Agent", "initbox-watch")
	resp, err := n.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST %s: %v", redact.URLString(n.o.URL), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", redact.URLString(n.o.URL), resp.Status)
	}
	return nil
}
