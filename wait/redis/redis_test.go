package redis

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testpki"
	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/wait/check"
)

func newChecker(t *testing.T, raw string, mod ...func(*check.Params)) check.Checker {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := check.Params{URL: u, Display: raw, Load: true}
	for _, f := range mod {
		f(&p)
	}
	c, err := New(t.Context(), p)
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return c
}

func checkErr(c check.Checker, t *testing.T) error {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return c.Check(ctx)
}

func wantReady(t *testing.T, c check.Checker) {
	t.Helper()
	if err := checkErr(c, t); err != nil {
		t.Fatalf("Check = %v, want ready", err)
	}
}

func wantErr(t *testing.T, c check.Checker, notReady bool, contains string) error {
	t.Helper()
	err := checkErr(c, t)
	if err == nil || check.IsNotReady(err) != notReady || !strings.Contains(err.Error(), contains) {
		t.Fatalf("Check = %v, want NotReady=%v containing %q", err, notReady, contains)
	}
	return err
}

func TestLifecycle(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	c := newChecker(t, r.URL("", ""))
	wantReady(t, c)
	r.Stop()
	wantErr(t, c, true, "refused")
	r.Start()
	wantReady(t, c)
	wantReady(t, newChecker(t, r.URL("", "")+"/3"))
	wantErr(t, newChecker(t, r.URL("", "")+"/99"), false, "DB index is out of range")
}

// While the dataset loads, every command gets -LOADING: retried until done.
func TestLoading(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	r.RestartLoading(1500)
	c := newChecker(t, r.URL("", ""))
	wantErr(t, c, true, "LOADING")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := checkErr(c, t)
		if err == nil {
			break
		}
		if !check.IsNotReady(err) || time.Now().After(deadline) {
			t.Fatalf("while loading: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPasswords(t *testing.T) {
	const pw, userPW = "redis-Secret-7f", "acl-Secret-3c"
	r := testserver.StartRedis(t, testserver.RedisOptions{Password: pw, Users: []string{"app on >" + userPW + " ~* +@all"}})
	wantReady(t, newChecker(t, r.URL("", pw)))
	wantReady(t, newChecker(t, r.URL("app", userPW)))
	wantReady(t, newChecker(t, r.URL("", ""), func(p *check.Params) { p.Password = pw }))
	wantReady(t, newChecker(t, r.URL("app", ""), func(p *check.Params) { p.Password = userPW }))

	wantErr(t, newChecker(t, r.URL("", "")), false, "NOAUTH")
	for _, c := range []check.Checker{newChecker(t, r.URL("", "wrong-Guess-1")), newChecker(t, r.URL("app", "wrong-Guess-1"))} {
		err := wantErr(t, c, false, "WRONGPASS")
		if strings.Contains(err.Error(), "wrong-Guess-1") {
			t.Errorf("the password is in the error: %v", err)
		}
	}
}

func TestPasswordButNoneConfigured(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	wantErr(t, newChecker(t, r.URL("", "unneeded-pw")), false, "AUTH")
}

func TestTLS(t *testing.T) {
	pki := testpki.New(t, "127.0.0.1", "localhost")
	r := testserver.StartRedis(t, testserver.RedisOptions{TLSCert: pki.ServerCert, TLSKey: pki.ServerKey, TLSCA: pki.CAFile})
	wantReady(t, newChecker(t, r.URL("", ""), func(p *check.Params) { p.TLS = tlsconfig.Options{CAFile: pki.CAFile} }))
	wantErr(t, newChecker(t, r.URL("", "")), false, "certificate")
	// Plain text to a TLS port: the server drops it; not a Redis answer.
	plain := strings.Replace(r.URL("", ""), "rediss://", "redis://", 1)
	if err := checkErr(newChecker(t, plain), t); err == nil {
		t.Fatal("plain text to a TLS port succeeded")
	}
}

func TestNotRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	wantErr(t, newChecker(t, "redis://"+ln.Addr().String()), false, "does not speak RESP")
	wantErr(t, newChecker(t, "redis://"+testnet.ClosedAddr(t, "tcp", "127.0.0.1")), true, "refused")
}

func TestNewErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"redis:///":             "missing host",
		"redis://cache/abc":     "not a number",
		"redis://cache?x=1":     "no query",
		"redis://onlyuser@c:1/": "has no password",
	} {
		u, _ := url.Parse(raw)
		_, err := New(t.Context(), check.Params{URL: u, Display: raw, Load: true})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%s) = %v, want %q", raw, err, want)
		}
	}
}
