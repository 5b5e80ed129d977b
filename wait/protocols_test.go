package wait

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testserver"
)

// Passwords reach database targets without being on the command line:
// ${VAR} in the URL, #password-file per target, --password-file for all.
func TestPasswordSources(t *testing.T) {
	const pw = "pg-Canary-7d1e"
	pg := testserver.StartPostgres(t, testserver.PostgresOptions{})
	pg.SQL("CREATE ROLE app LOGIN PASSWORD '" + pw + "'")
	pg.SQL("CREATE DATABASE app OWNER app")
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte(pw+"\n"), 0o600)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("wrong-Canary-4b2c\n"), 0o600)
	t.Setenv("INITBOX_TEST_PGPW", pw)
	noPW := pg.URL("app", "", "app")

	tests := []struct {
		name   string
		target string
		file   string // --password-file
		code   int
	}{
		{"env in URL", "postgres://app:${INITBOX_TEST_PGPW}@" + pg.Addr() + "/app", "", 0},
		{"per-target file", noPW + "#password-file=" + good, "", 0},
		{"global file", noPW, good, 0},
		{"per-target file wins over global", noPW + "#password-file=" + good, bad, 0},
		{"wrong password from file fails at once", noPW, bad, exitcode.Failure},
		{"URL password and file", pg.URL("app", pw, "app") + "#password-file=" + good, "", exitcode.UsageCode},
		{"missing file", noPW + "#password-file=" + filepath.Join(dir, "none"), "", exitcode.UsageCode},
		{"unset variable", "postgres://app:${INITBOX_TEST_UNSET}@" + pg.Addr() + "/app", "", exitcode.UsageCode},
		{"password file on a tcp target", "tcp://" + pg.Addr() + "#password-file=" + good, "", exitcode.UsageCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fast(tc.target)
			c.PasswordFile = tc.file
			c.Timeout = 20 * time.Second
			logs, err := run(t, t.Context(), c)
			if got := exitcode.Of(err); got != tc.code {
				t.Fatalf("exit %d, want %d: %v\n%s", got, tc.code, err, logs)
			}
			for _, secret := range []string{pw, "wrong-Canary-4b2c"} {
				if strings.Contains(logs, secret) || (err != nil && strings.Contains(err.Error(), secret)) {
					t.Errorf("%s leaked: %v\n%s", secret, err, logs)
				}
			}
		})
	}
}

// The wait command follows a PostgreSQL through "not accepting connections"
// (port open) to ready.
func TestWaitForStartingPostgres(t *testing.T) {
	pg := testserver.StartPostgres(t, testserver.PostgresOptions{})
	pg.SQL("CREATE ROLE app LOGIN PASSWORD 'pw-1234'")
	pg.StartStandby()
	c := fast(pg.URL("app", "pw-1234", "postgres"))
	c.Timeout = 30 * time.Second
	type outcome struct {
		logs string
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		logs, err := run(t, t.Context(), c)
		done <- outcome{logs, err}
	}()
	// Promote once the server has turned the wait away at least once.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(pg.Logs(), "not accepting connections") {
		if time.Now().After(deadline) {
			t.Fatalf("the wait never reached the standby:\n%s", pg.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pg.Promote()
	o := <-done
	logs, err := o.logs, o.err
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	if !strings.Contains(logs, "57P03") || !strings.Contains(logs, "target ready") {
		t.Errorf("logs should show the 57P03 phase, then ready:\n%s", logs)
	}
}
