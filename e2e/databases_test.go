//go:build e2e

package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// A PostgreSQL that is still initialising: its port opens before it accepts
// sessions. A tcp:// wait passes during that phase; the postgres:// wait
// holds the pod until a real session works, and the main container then
// connects on its first try.
func TestWaitForInitialisingPostgres(t *testing.T) {
	const password = "pg-E2E-Canary-3f9a"
	nw := NewNetwork(t)
	db := Service(t, nw, "db", Container{Name: "db", Image: images.postgres,
		Env: map[string]string{"APP_PASSWORD": password, "INIT_SECONDS": "5"}})
	st := RunPod(t, Pod{
		Name:    "app",
		Network: nw,
		InitContainers: []Container{
			{Name: "wait-port", Image: images.initbox, Restricted: true,
				Args: []string{"wait", "tcp://db:5432", "--timeout", "120s"}},
			{Name: "wait-db", Image: images.initbox, Restricted: true, Env: map[string]string{"DB_PASSWORD": password},
				Args: []string{"wait", "postgres://app:${DB_PASSWORD}@db:5432/app", "--timeout", "120s"}},
		},
		Containers: []Container{{Name: "main", Image: images.testbin,
			Env:  map[string]string{"DATABASE_URL": "postgres://app:" + password + "@db:5432/app"},
			Args: []string{"pg"}}},
	})
	port, waitDB, main := st.Get(t, "wait-port"), st.Get(t, "wait-db"), st.Get(t, "main")
	if port.ExitCode != 0 || waitDB.ExitCode != 0 {
		t.Fatalf("init containers: tcp exit %d, postgres exit %d\n%s\n%s", port.ExitCode, waitDB.ExitCode, port.Logs, waitDB.Logs)
	}
	dbLogs := readLogs(t.Context(), db)
	readyAt := pgLogTime(t, dbLogs, "database system is ready to accept connections")
	if !port.FinishedAt.Before(readyAt) {
		t.Errorf("the tcp:// wait finished at %v, after the database was ready (%v): the test shows nothing", port.FinishedAt, readyAt)
	}
	logsContain(t, "postgres wait logs", waitDB.Logs, "57P03", "target ready")
	if !waitDB.FinishedAt.After(readyAt) || !main.StartedAt.After(readyAt) {
		t.Errorf("postgres wait finished %v, main started %v; database ready at %v", waitDB.FinishedAt, main.StartedAt, readyAt)
	}
	if main.ExitCode != 0 || !strings.Contains(main.Logs, "connected on the first attempt as app on app") {
		t.Errorf("main: exit %d:\n%s", main.ExitCode, main.Logs)
	}
	if strings.Contains(waitDB.Logs+waitDB.TerminationMessage, password) {
		t.Error("the password appears in the wait's output")
	}
}

// pgLogTime finds the first server log line containing what and returns its
// timestamp (PostgreSQL's default log_line_prefix: "2006-01-02 15:04:05.000 UTC").
func pgLogTime(t *testing.T, logs, what string) time.Time {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC .*` + regexp.QuoteMeta(what))
	m := re.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no %q in the database log:\n%s", what, logs)
	}
	ts, err := time.Parse("2006-01-02 15:04:05.000", m[1])
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
