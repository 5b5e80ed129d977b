package watch

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/initbox/initbox/internal/exitcode"
)

// Group is the watchers of one plan (run --watch), each a step running
// Run in this process. They share one health endpoint, whose /readyz
// answers 200 once the plan says every step's first pass is done
// (SetReady), and one notifier for the plan's --on-change-* options; a
// step that republishes wakes the steps after it that follow their
// upstream (Options.Upstream: render, whose templates read what an earlier
// step wrote).
//
//	g, err := watch.NewGroup(opts)
//	stop, err := g.Start(ctx)
//	defer stop()
//	sctx, m := g.Join(ctx, "database secret", "fetch")
//	go exec(sctx, argv)  // the step calls Run with sctx
//	<-m.Ready()          // its first pass is done; start the next step
type Group struct {
	o Options
	m *metrics
	n *notifier

	mu      sync.Mutex
	members []*Member
}

// Member is one step of a Group.
type Member struct {
	g        *Group
	index    int
	m        *metrics
	wake     chan struct{}
	ready    chan struct{}
	once     sync.Once
	mu       sync.Mutex
	upstream bool
	watching bool // Run was called: a step that runs once has no series
}

type memberKey struct{}

// NewGroup checks the plan's options (Command names the plan's command,
// "run").
func NewGroup(o Options) (*Group, error) {
	if err := o.Validate(); err != nil {
		return nil, exitcode.Usage(err)
	}
	o = o.withDefaults()
	g := &Group{o: o, m: newMetrics(o.Command)}
	g.m.group = true
	g.n = newNotifier(o.Notify, g.m)
	return g, nil
}

// Start serves the health endpoint (if HealthAddr is set) and runs the
// notifier until stop.
func (g *Group) Start(ctx context.Context) (stop func(), err error) {
	stopHealth := func() {}
	if g.o.HealthAddr != "" {
		if stopHealth, err = serveHealth(g.o.HealthAddr, g.m, g.series); err != nil {
			return nil, err
		}
	}
	nctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { g.n.run(nctx); close(done) }()
	return func() { cancel(); <-done; stopHealth() }, nil
}

// series are the plan's metrics, then each step's.
func (g *Group) series() []*metrics {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := []*metrics{g.m}
	for _, m := range g.members {
		m.mu.Lock()
		if m.watching {
			ms = append(ms, m.m)
		}
		m.mu.Unlock()
	}
	return ms
}

// Join adds a step: Run called with the returned context reports to the
// group instead of serving and notifying on its own.
func (g *Group) Join(ctx context.Context, step, command string) (context.Context, *Member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := &Member{g: g, index: len(g.members), m: newStepMetrics(command, step),
		wake: make(chan struct{}, 1), ready: make(chan struct{})}
	g.members = append(g.members, m)
	return context.WithValue(ctx, memberKey{}, m), m
}

// SetReady marks the plan ready: every step has done its first pass.
func (g *Group) SetReady() { g.m.setReady() }

// Ready is closed when the step's first pass is done and it watches.
func (m *Member) Ready() <-chan struct{} { return m.ready }

// Planned reports whether ctx is a step of a watched plan: a step that
// cannot watch (a seed from an archive) then runs once instead of refusing
// --watch.
func Planned(ctx context.Context) bool { return memberOf(ctx) != nil }

func memberOf(ctx context.Context) *Member {
	m, _ := ctx.Value(memberKey{}).(*Member)
	return m
}

// errStepHealth refuses a step's own health endpoint: the plan has one.
var errStepHealth = errors.New("--health-addr is the plan's (run --watch --health-addr), not a step's")

// join is Run's side of a member: its metrics, and its upstream wake-ups.
func (m *Member) join(o Options) (*metrics, <-chan struct{}) {
	m.mu.Lock()
	m.upstream, m.watching = o.Upstream, true
	m.mu.Unlock()
	if !o.Upstream {
		return m.m, nil
	}
	return m.m, m.wake
}

func (m *Member) setReady() { m.once.Do(func() { close(m.ready) }) }

// changed tells the plan's notifier, and wakes the later steps that follow
// their upstream.
func (m *Member) changed(what []string) {
	g := m.g
	g.m.changed()
	g.n.changed(slices.Clone(what))
	g.mu.Lock()
	later := slices.Clone(g.members[m.index+1:])
	g.mu.Unlock()
	for _, l := range later {
		l.mu.Lock()
		up := l.upstream
		l.mu.Unlock()
		if up {
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
}
