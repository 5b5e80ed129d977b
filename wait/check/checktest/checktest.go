// Package checktest holds what the tests of every checker package share:
// build a checker from a URL as wait does, run one check with a deadline, and
// assert its verdict.
//
//	c := checktest.New(t, postgres.New, "postgres://app:pw@127.0.0.1:5432/app")
//	checktest.NotReady(t, c, "57P03")
package checktest

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/wait/check"
)

// New builds a checker with f for raw, loading files as Run does; mods
// adjust the Params (a password, TLS options).
func New(t testing.TB, f check.Factory, raw string, mods ...func(*check.Params)) check.Checker {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := check.Params{URL: u, Display: raw, Load: true}
	for _, m := range mods {
		m(&p)
	}
	c, err := f(t.Context(), p)
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return c
}

// Check runs one check with a 10 s deadline.
func Check(t testing.TB, c check.Checker) error {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return c.Check(ctx)
}

// Ready fails the test unless the check succeeds.
func Ready(t testing.TB, c check.Checker) {
	t.Helper()
	if err := Check(t, c); err != nil {
		t.Fatalf("Check = %v, want ready", err)
	}
}

// NotReady fails the test unless the check fails with a NotReady error
// containing contains, and returns the error.
func NotReady(t testing.TB, c check.Checker, contains string) error {
	t.Helper()
	return failsWith(t, c, true, contains)
}

// Permanent fails the test unless the check fails for good (not NotReady)
// with an error containing contains, and returns the error.
func Permanent(t testing.TB, c check.Checker, contains string) error {
	t.Helper()
	return failsWith(t, c, false, contains)
}

func failsWith(t testing.TB, c check.Checker, notReady bool, contains string) error {
	t.Helper()
	err := Check(t, c)
	if err == nil || check.IsNotReady(err) != notReady || !strings.Contains(err.Error(), contains) {
		t.Fatalf("Check = %v, want NotReady=%v containing %q", err, notReady, contains)
	}
	return err
}

// BadURLs checks that f refuses each URL with an error containing the given
// text. Loading is on, as in Run: a refusal must come before any file or
// network access, or the case is not a bad URL.
func BadURLs(t *testing.T, f check.Factory, cases map[string]string) {
	t.Helper()
	for raw, want := range cases {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f(t.Context(), check.Params{URL: u, Display: raw, Load: true})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%s) = %v, want an error containing %q", raw, err, want)
		}
	}
}
