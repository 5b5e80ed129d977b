package watch

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/initbox/initbox/internal/testnet"
)

// A plan's steps share one endpoint and one notifier: /readyz waits for
// the plan, not for one step; a republish wakes the later steps that follow
// their upstream (and not the earlier ones, nor those that do not follow),
// and the plan's notifier hears every step's changes; /metrics holds one
// series per step, which Prometheus's parser reads.
func TestGroup(t *testing.T) {
	posts := testnet.RecordPosts(t)

	addr := freeAddr(t)
	g, err := NewGroup(Options{Command: "run", HealthAddr: addr, Notify: Notify{URL: posts.URL + "/reload", Debounce: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := g.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	// Step 1 (fetch) changes once, on its second pass; step 0 (an earlier
	// render) and step 2 (seed, no upstream) must not be woken by it; step 3
	// (render) must.
	const long = time.Hour
	var passes [4]atomic.Int32
	rotate := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	step := func(i int, name, command string, upstream bool, do Pass) {
		sctx, m := g.Join(ctx, name, command)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Run(sctx, Options{Command: command, Refresh: long, Upstream: upstream}, func(ctx context.Context, first bool) (Report, error) {
				passes[i].Add(1)
				return do(ctx, first)
			})
		}()
		select {
		case <-m.Ready():
		case <-time.After(5 * time.Second):
			t.Fatalf("step %d never ready", i)
		}
	}
	nothing := func(context.Context, bool) (Report, error) { return Report{}, nil }
	step(0, "early render", "render", true, nothing)
	if c, _ := get(t, "http://"+addr+"/readyz"); c != http.StatusServiceUnavailable {
		t.Errorf("readyz with one step of four ready: %d, want 503", c)
	}
	fetchOpts := Options{Command: "fetch", Refresh: 30 * time.Millisecond}
	sctx, m := g.Join(ctx, `db "secret"`, "fetch")
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[1] = Run(sctx, fetchOpts, func(ctx context.Context, first bool) (Report, error) {
			passes[1].Add(1)
			if first {
				return Report{Expiries: map[string]time.Time{"vault://database/creds/app": time.Unix(1800000000, 0)}}, nil
			}
			select {
			case <-rotate:
				return Report{}, errors.New("rotated already")
			default:
			}
			close(rotate)
			return Report{Changed: []string{"vault://database/creds/app"}}, nil
		})
	}()
	<-m.Ready()
	step(2, "site", "seed", false, nothing)
	step(3, "config", "render", true, nothing)
	g.SetReady()
	if c, _ := get(t, "http://"+addr+"/readyz"); c != 200 {
		t.Errorf("readyz after the plan is ready: %d", c)
	}
	<-rotate
	waitFor(t, func() bool { return passes[3].Load() == 2 })
	waitFor(t, func() bool { return len(posts.Bodies()) == 1 })
	time.Sleep(100 * time.Millisecond)
	if passes[0].Load() != 1 || passes[2].Load() != 1 || passes[3].Load() != 2 {
		t.Errorf("passes: early render %d, seed %d, later render %d; want 1, 1, 2", passes[0].Load(), passes[2].Load(), passes[3].Load())
	}
	if got := posts.Bodies(); len(got) != 1 || got[0] != "vault://database/creds/app\n" {
		t.Errorf("the plan's notifier: %q", got)
	}

	_, text := get(t, "http://"+addr+"/metrics")
	families, err := new(expfmt.TextParser).TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v\n%s", err, text)
	}
	series := func(name string) map[string]float64 {
		out := map[string]float64{}
		for _, m := range families[name].GetMetric() {
			key := ""
			for _, l := range m.Label {
				key += l.GetName() + "=" + l.GetValue() + ";"
			}
			out[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		return out
	}
	ready := series("initbox_watch_ready")
	if len(ready) != 5 || ready["command=run;"] != 1 || ready[`command=fetch;step=db "secret";`] != 1 {
		t.Errorf("ready series: %v\n%s", ready, text)
	}
	if p := series("initbox_watch_passes_total"); len(p) != 4 || p["command=render;step=config;"] != 2 {
		t.Errorf("passes series (the plan has none of its own): %v", p)
	}
	if c := series("initbox_watch_changes_total"); c["command=run;"] != 1 || c[`command=fetch;step=db "secret";`] != 1 {
		t.Errorf("changes series: %v", c)
	}
	if n := series("initbox_watch_notifications_total"); n["command=run;result=ok;"] != 1 {
		t.Errorf("notifications: %v", n)
	}
	if e := series("initbox_watch_expiry_timestamp_seconds"); e[`command=fetch;step=db "secret";ref=vault://database/creds/app;`] != 1800000000 {
		t.Errorf("expiries: %v", e)
	}
	cancel()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("step %d: %v", i, err)
		}
	}
}

// A step of a plan has no endpoint of its own: the plan's answers for it.
func TestGroupStepHealthRefused(t *testing.T) {
	g, err := NewGroup(Options{Command: "run"})
	if err != nil {
		t.Fatal(err)
	}
	sctx, _ := g.Join(context.Background(), "s", "fetch")
	if !Planned(sctx) || Planned(context.Background()) {
		t.Error("Planned does not tell a plan's step")
	}
	err = Run(sctx, Options{Command: "fetch", HealthAddr: freeAddr(t)}, func(context.Context, bool) (Report, error) {
		t.Error("a pass ran")
		return Report{}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "the plan's") {
		t.Errorf("Run = %v", err)
	}
}
