package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// SIGKILL while an archive is half extracted: the target keeps the old
// complete state; the next run seeds the new one and leaves one version.
func TestSeedKilledMidExtract(t *testing.T) {
	archive := func(version string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := range 100 {
			body := bytes.Repeat([]byte(version), 10000)
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%03d", i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
			tw.Write(body)
		}
		tw.Close()
		return buf.Bytes()
	}
	var stall atomic.Bool
	var current atomic.Value
	current.Store(archive("o"))
	halfway := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data := current.Load().([]byte)
		if !stall.Load() {
			w.Write(data)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		halfway <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	target := filepath.Join(t.TempDir(), "data")
	run := func() *exec.Cmd { return command(t, "initbox", "seed", srv.URL+"/data.tar", target) }
	if b, err := run().CombinedOutput(); err != nil {
		t.Fatalf("first seed: %v\n%s", err, b)
	}
	current.Store(archive("n"))
	stall.Store(true)
	cmd := run()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-halfway:
	case <-time.After(20 * time.Second):
		t.Fatal("the download never started")
	}
	time.Sleep(200 * time.Millisecond) // let it extract what it has
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	check := func(want byte) {
		t.Helper()
		for i := range 100 {
			b, err := os.ReadFile(filepath.Join(target, fmt.Sprintf("f%03d", i)))
			if err != nil || len(b) != 10000 || b[0] != want {
				t.Fatalf("f%03d: %d bytes of %q, %v; want %q everywhere", i, len(b), b[:min(1, len(b))], err, want)
			}
		}
	}
	check('o')
	stall.Store(false)
	if b, err := run().CombinedOutput(); err != nil {
		t.Fatalf("re-run: %v\n%s", err, b)
	}
	check('n')
	if n := versionDirs(t, target); n != 1 {
		t.Errorf("%d version directories after the re-run, want 1", n)
	}
}
