package redis

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/testnet"
	"github.com/initbox/initbox/internal/testpki"
	"github.com/initbox/initbox/internal/testserver"
	"github.com/initbox/initbox/internal/tlsconfig"
	"github.com/initbox/initbox/wait/check"
	"github.com/initbox/initbox/wait/check/checktest"
)

func TestLifecycle(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	c := checktest.New(t, New, r.URL("", ""))
	checktest.Ready(t, c)
	r.Stop()
	checktest.NotReady(t, c, "refused")
	r.Start()
	checktest.Ready(t, c)
	checktest.Ready(t, checktest.New(t, New, r.URL("", "")+"/3"))
	checktest.Permanent(t, checktest.New(t, New, r.URL("", "")+"/99"), "DB index is out of range")
}

// While the dataset loads, every command gets -LOADING: retried until done.
func TestLoading(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	r.RestartLoading(1500)
	c := checktest.New(t, New, r.URL("", ""))
	checktest.NotReady(t, c, "LOADING")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := checktest.Check(t, c)
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
	checktest.Ready(t, checktest.New(t, New, r.URL("", pw)))
	checktest.Ready(t, checktest.New(t, New, r.URL("app", userPW)))
	checktest.Ready(t, checktest.New(t, New, r.URL("", ""), func(p *check.Params) { p.Password = pw }))
	checktest.Ready(t, checktest.New(t, New, r.URL("app", ""), func(p *check.Params) { p.Password = userPW }))

	checktest.Permanent(t, checktest.New(t, New, r.URL("", "")), "NOAUTH")
	for _, c := range []check.Checker{checktest.New(t, New, r.URL("", "wrong-Guess-1")), checktest.New(t, New, r.URL("app", "wrong-Guess-1"))} {
		err := checktest.Permanent(t, c, "WRONGPASS")
		if strings.Contains(err.Error(), "wrong-Guess-1") {
			t.Errorf("the password is in the error: %v", err)
		}
	}
}

func TestPasswordButNoneConfigured(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	checktest.Permanent(t, checktest.New(t, New, r.URL("", "unneeded-pw")), "AUTH")
}

func TestTLS(t *testing.T) {
	pki := testpki.New(t, "127.0.0.1", "localhost")
	r := testserver.StartRedis(t, testserver.RedisOptions{TLSCert: pki.ServerCert, TLSKey: pki.ServerKey, TLSCA: pki.CAFile})
	checktest.Ready(t, checktest.New(t, New, r.URL("", ""), func(p *check.Params) { p.TLS = tlsconfig.Options{CAFile: pki.CAFile} }))
	checktest.Permanent(t, checktest.New(t, New, r.URL("", "")), "certificate")
	// Plain text to a TLS port: the server drops it; not a Redis answer.
	plain := strings.Replace(r.URL("", ""), "rediss://", "redis://", 1)
	if err := checktest.Check(t, checktest.New(t, New, plain)); err == nil {
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
	checktest.Permanent(t, checktest.New(t, New, "redis://"+ln.Addr().String()), "does not speak RESP")
	checktest.NotReady(t, checktest.New(t, New, "redis://"+testnet.RefusingAddr(t)), "refused")
}

func TestNewErrors(t *testing.T) {
	checktest.BadURLs(t, New, map[string]string{
		"redis:///":             "missing host",
		"redis://cache/abc":     "not a number",
		"redis://cache?x=1":     "no query",
		"redis://onlyuser@c:1/": "has no password",
	})
}
