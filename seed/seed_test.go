package seed

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testlog"
)

// tarEntry describes one entry of a test archive.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)), ModTime: time.Unix(1, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(t *testing.T, b []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(b, nil)
}

func makeZip(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return buf.Bytes()
}

func writeFile(t *testing.T, p string, b []byte) string {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func seed(t *testing.T, c Config) error {
	t.Helper()
	if c.Interval == 0 {
		c.Interval, c.MaxInterval = 10*time.Millisecond, 50*time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 20 * time.Second
	}
	return Run(t.Context(), c)
}

var project = []tarEntry{
	{name: "site-1.0/", typ: tar.TypeDir, mode: 0o755},
	{name: "site-1.0/index.html", body: "<h1>hi</h1>"},
	{name: "site-1.0/bin/run.sh", body: "#!/bin/sh\n", mode: 0o755},
	{name: "site-1.0/current", typ: tar.TypeSymlink, link: "index.html"},
	{name: "site-1.0/docs/a/b..c.txt", body: "legal name"},
	{name: "site-1.0/empty/", typ: tar.TypeDir, mode: 0o755},
}

// Every archive format, from a file: contents, modes, links inside the tree
// and empty directories arrive; --strip-components drops the top directory.
func TestArchiveFormats(t *testing.T) {
	raw := makeTar(t, project)
	for name, data := range map[string][]byte{"site.tar": raw, "site.tar.gz": gz(raw), "site.tgz": gz(raw), "site.tar.zst": zst(t, raw)} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeFile(t, filepath.Join(dir, name), data)
			target := filepath.Join(dir, "www")
			if err := seed(t, Config{Src: src, Target: target, StripComponents: 1}); err != nil {
				t.Fatal(err)
			}
			if readFile(t, filepath.Join(target, "index.html")) != "<h1>hi</h1>" || readFile(t, filepath.Join(target, "current")) != "<h1>hi</h1>" ||
				readFile(t, filepath.Join(target, "docs/a/b..c.txt")) != "legal name" {
				t.Error("content differs")
			}
			if fi, err := os.Stat(filepath.Join(target, "bin/run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("run.sh: %v %v", fi.Mode(), err)
			}
			if fi, err := os.Stat(filepath.Join(target, "empty")); err != nil || !fi.IsDir() {
				t.Errorf("empty directory: %v", err)
			}
		})
	}
	t.Run("zip", func(t *testing.T) {
		dir := t.TempDir()
		src := writeFile(t, filepath.Join(dir, "site.zip"), makeZip(t, map[string]string{"pkg/a.txt": "A", "pkg/sub/b.txt": "B", "other/c.txt": "C"}))
		target := filepath.Join(dir, "www")
		if err := seed(t, Config{Src: src, Target: target, Subdir: "pkg"}); err != nil {
			t.Fatal(err)
		}
		if readFile(t, filepath.Join(target, "a.txt")) != "A" || readFile(t, filepath.Join(target, "sub/b.txt")) != "B" {
			t.Error("content differs")
		}
		if _, err := os.Stat(filepath.Join(target, "c.txt")); err == nil {
			t.Error("--subdir let other/ in")
		}
		if entries, _ := os.ReadDir(target); len(entries) != 4 { // a.txt, sub, ..data, the version
			t.Errorf("target holds %d entries (a leftover download?)", len(entries))
		}
	})
}

// Once: the same source again does nothing and says so; a changed source
// re-seeds; --force always does; --if-empty leaves a non-empty target.
func TestIdempotent(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "seed-data")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("v1"))
	target := filepath.Join(dir, "data")
	if err := seed(t, Config{Src: src, Target: target}); err != nil {
		t.Fatal(err)
	}
	version := func() string { v, _ := os.Readlink(filepath.Join(target, "..data")); return v }
	first := version()
	logs := testlog.Capture(t)
	if err := seed(t, Config{Src: src, Target: target}); err != nil {
		t.Fatal(err)
	}
	if version() != first || !strings.Contains(logs.String(), "already seeded from this source") {
		t.Errorf("a re-run with the same source seeded again:\n%s", logs)
	}
	if err := seed(t, Config{Src: src, Target: target, Force: true}); err != nil || version() == first {
		t.Errorf("--force did not seed again: %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	writeFile(t, filepath.Join(src, "a.txt"), []byte("v2"))
	if err := seed(t, Config{Src: src, Target: target}); err != nil || readFile(t, filepath.Join(target, "a.txt")) != "v2" {
		t.Errorf("a changed source was not re-seeded: %v", err)
	}
	writeFile(t, filepath.Join(src, "a.txt"), []byte("v3"))
	logs = testlog.Capture(t)
	if err := seed(t, Config{Src: src, Target: target, IfEmpty: true}); err != nil || readFile(t, filepath.Join(target, "a.txt")) != "v2" {
		t.Errorf("--if-empty changed a seeded target: %v", err)
	}
	if !strings.Contains(logs.String(), "--if-empty leaves it") {
		t.Errorf("--if-empty did not say why:\n%s", logs)
	}
	fresh := filepath.Join(dir, "fresh")
	os.MkdirAll(filepath.Join(fresh, "lost+found"), 0o700)
	if err := seed(t, Config{Src: src, Target: fresh, IfEmpty: true}); err != nil || readFile(t, filepath.Join(fresh, "a.txt")) != "v3" {
		t.Errorf("--if-empty did not seed an empty volume: %v", err)
	}
}

// The copy digests the tree on its own walk; that digest, kept in the
// marker, must be the one a re-run computes up front to compare.
func TestCopyDigestsTheTree(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "seed-data")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"))
	writeFile(t, filepath.Join(src, "sub/deeper/b.sh"), []byte("#!/bin/sh\n"))
	if err := os.Chmod(filepath.Join(src, "sub/deeper/b.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("deeper/b.sh", filepath.Join(src, "sub/run")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "data")
	if err := seed(t, Config{Src: src, Target: target}); err != nil {
		t.Fatal(err)
	}
	m := readMarker(target)
	want, err := treeDigest(src)
	if err != nil {
		t.Fatal(err)
	}
	if m == nil || m.Digest != want || !strings.HasPrefix(want, "tree:") {
		t.Fatalf("marker %+v; want digest %s", m, want)
	}
}

// A damaged tar.gz — cut short (also only its trailer), a byte changed,
// not gzip at all — or a tar.zst cut in its checksum fails with exit 1 and
// a message naming the archive's fault; the target keeps
// what an earlier seed published, and no staged version is left.
func TestDamagedArchiveKeepsThePreviousState(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "www")
	good := writeFile(t, filepath.Join(dir, "good.tar.gz"), gz(makeTar(t, project)))
	if err := seed(t, Config{Src: good, Target: target, StripComponents: 1}); err != nil {
		t.Fatal(err)
	}
	var big []tarEntry
	for i := range 200 {
		big = append(big, tarEntry{name: fmt.Sprintf("f%03d", i), body: strings.Repeat(fmt.Sprint(i), 500)})
	}
	archive := gz(makeTar(t, big))
	zstCut := zst(t, makeTar(t, big))
	zstCut = zstCut[:len(zstCut)-2] // in its checksum
	flipped := bytes.Clone(archive)
	flipped[len(flipped)/2] ^= 0x55
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"cut":     {archive[:len(archive)*2/3], "it ends in the middle"},
		"cut-end": {archive[:len(archive)-3], "it ends in the middle"},
		"cut-1/3": {archive[:len(archive)/3], "it ends in the middle"},
		"zst-cut": {zstCut, "it ends in the middle"},
		"flipped": {flipped, "reading the archive"},
		"no-gzip": {makeTar(t, big), "reading the archive as tar.gz"},
	} {
		format := TarGz
		if strings.HasPrefix(name, "zst") {
			format = TarZst
		}
		src := writeFile(t, filepath.Join(dir, name+".archive"), tc.data)
		err := seed(t, Config{Src: src, Target: target, Force: true, Format: format})
		if err == nil || exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v (exit %d), want exit %d and %q", name, err, exitcode.Of(err), exitcode.Failure, tc.want)
		}
		if readFile(t, filepath.Join(target, "index.html")) != "<h1>hi</h1>" {
			t.Fatalf("%s: the published state changed", name)
		}
		if entries, _ := os.ReadDir(target); len(entries) != 1+1+5 { // ..data, the version, five top-level names
			t.Fatalf("%s: the target holds %d entries (a staged version left?)", name, len(entries))
		}
	}
}

// A tree's files and an archive's small entries are written on copiers in
// batches: every file of every size arrives whole with its mode — empty,
// small, a batch's arena filled by a few, exactly the largest written on a
// copier, and larger ones streamed on the reading goroutine between them.
func TestFilesWrittenInParallel(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "seed-data")
	n := 5*copyBatch + 7
	sizes := []int{0, 13, 40 << 10, smallEntry, smallEntry + 1, 3 * smallEntry}
	body := func(i int) []byte {
		b := bytes.Repeat([]byte(fmt.Sprintf("content %d;", i)), sizes[i%len(sizes)]/9+1)
		return b[:sizes[i%len(sizes)]]
	}
	modes := []fs.FileMode{0o644, 0o600, 0o755}
	name := func(i int) string { return fmt.Sprintf("d%d/e%d/f%03d", i%5, i%3, i) }
	var entries []tarEntry
	for i := range n {
		p := writeFile(t, filepath.Join(src, name(i)), body(i))
		if err := os.Chmod(p, modes[i%3]); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, tarEntry{name: name(i), body: string(body(i)), mode: int64(modes[i%3])})
	}
	archive := writeFile(t, filepath.Join(dir, "data.tar.gz"), gz(makeTar(t, entries)))
	for _, source := range []string{src, archive} {
		target := filepath.Join(dir, "data-"+filepath.Base(source))
		if err := seed(t, Config{Src: source, Target: target}); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			p := filepath.Join(target, name(i))
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, p); got != string(body(i)) || fi.Mode().Perm() != modes[i%3] {
				t.Fatalf("%s: %d bytes (want %d), equal %v, mode %v", p, len(got), len(body(i)), got == string(body(i)), fi.Mode())
			}
		}
		want := int64(n)
		if source == src {
			want += 5 + 15 // a tree's directories are entries too
		}
		if m := readMarker(target); m == nil || m.Files != want {
			t.Fatalf("%s: marker %+v, want %d entries", source, m, want)
		}
	}
}

// An archive's entries travel in their batch's arena: a new batch never
// gets bytes of one still being written, and a finished batch's arena is
// used again.
func TestArenaOfARunningBatchIsNotReused(t *testing.T) {
	c := newCopies(1)
	first := c.buffer(arenaSize)
	release := make(chan struct{})
	c.do(func() error { <-release; return nil })
	second := c.buffer(10) // the first arena is full: its batch starts
	if overlaps(first, second) {
		t.Fatal("a new entry got bytes of the running batch's arena")
	}
	c.do(func() error { return nil })
	close(release)
	if err := c.wait(); err != nil {
		t.Fatal(err)
	}
	third := c.buffer(10)
	if !overlaps(first, third) && !overlaps(second[:cap(second)], third) {
		t.Fatal("a finished batch's arena was not used again")
	}
}

func overlaps(a, b []byte) bool {
	a0, b0 := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}

// The first failing copy is the error; the copies after it in its batch do
// not run, and none starts once one has failed.
func TestCopiesStopAtTheFirstError(t *testing.T) {
	c := newCopies(2)
	var ran atomic.Int64
	boom := errors.New("boom")
	for i := range 10 * copyBatch {
		c.do(func() error {
			ran.Add(1)
			if i == 3 {
				return boom
			}
			return nil
		})
	}
	if err := c.wait(); !errors.Is(err, boom) {
		t.Fatalf("wait = %v, want boom", err)
	}
	if r := ran.Load(); r >= 10*copyBatch {
		t.Fatalf("%d copies ran after an error in the first batch, want fewer than %d", r, 10*copyBatch)
	}
	ok := newCopies(3)
	ran.Store(0)
	for range 3*copyBatch + 1 {
		ok.do(func() error { ran.Add(1); return nil })
	}
	if err := ok.wait(); err != nil || ran.Load() != 3*copyBatch+1 {
		t.Fatalf("wait = %v after %d copies, want nil after %d", err, ran.Load(), 3*copyBatch+1)
	}
}

// Archive entries are remote input: each is refused, naming the entry;
// nothing is written outside the target and the previous state stays.
func TestMaliciousArchives(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "vol", "data")
	good := writeFile(t, filepath.Join(dir, "good.tar"), makeTar(t, []tarEntry{{name: "ok.txt", body: "good"}}))
	if err := seed(t, Config{Src: good, Target: target}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		c       Config
		want    string
	}{
		{"dotdot", []tarEntry{{name: "../evil.txt", body: "x"}}, Config{}, `"../evil.txt"`},
		{"nested dotdot", []tarEntry{{name: "a/../../evil.txt", body: "x"}}, Config{}, `"a/../../evil.txt"`},
		{"absolute", []tarEntry{{name: "/tmp/evil.txt", body: "x"}}, Config{}, `"/tmp/evil.txt"`},
		{"backslash", []tarEntry{{name: `..\evil.txt`, body: "x"}}, Config{}, `backslash`},
		{"fullwidth dots", []tarEntry{{name: "\uff0e\uff0e/evil.txt", body: "x"}}, Config{}, `".." as a path element`},
		{"absolute link", []tarEntry{{name: "etc", typ: tar.TypeSymlink, link: "/etc"}}, Config{}, `entry "etc": link to "/etc"`},
		{"link out", []tarEntry{{name: "up", typ: tar.TypeSymlink, link: "../../.."}}, Config{}, `entry "up": link to "../../.." leads out`},
		{"chain", []tarEntry{{name: "a", typ: tar.TypeSymlink, link: "b"}, {name: "b", typ: tar.TypeSymlink, link: "../x"}}, Config{}, `entry "b"`},
		{"through a link", []tarEntry{{name: "sub/", typ: tar.TypeDir}, {name: "l", typ: tar.TypeSymlink, link: "sub"}, {name: "l/f.txt", body: "x"}}, Config{},
			`entry "l/f.txt": its parent "l" is a symbolic link`},
		{"hard link", []tarEntry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, Config{}, `entry "h": a hard link`},
		{"device", []tarEntry{{name: "dev", typ: tar.TypeChar}}, Config{}, `entry "dev": a device or FIFO`},
		{"fifo", []tarEntry{{name: "p", typ: tar.TypeFifo}}, Config{}, `entry "p": a device or FIFO`},
		{"too big", []tarEntry{{name: "big.bin", body: strings.Repeat("0", 4096)}}, Config{MaxBytes: 1000}, "more than 1000 bytes (--max-bytes)"},
		{"too many", []tarEntry{{name: "a", body: "1"}, {name: "b", body: "2"}, {name: "c", body: "3"}}, Config{MaxEntries: 2}, "more than 2 entries (--max-entries)"},
		{"reserved", []tarEntry{{name: "..data/x", body: "x"}}, Config{}, `entry "..data/x"`},
		{"long name", []tarEntry{{name: strings.Repeat("a", 300), body: "x"}}, Config{}, "longer than 255 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Src, c.Target = writeFile(t, filepath.Join(dir, tc.name+".tar.gz"), gz(makeTar(t, tc.entries))), target
			err := seed(t, c)
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing is published") {
				t.Fatalf("err = %v, want exit 1 with %q", err, tc.want)
			}
			if readFile(t, filepath.Join(target, "ok.txt")) != "good" {
				t.Error("the previous state is gone")
			}
			for _, p := range []string{filepath.Join(dir, "vol", "evil.txt"), filepath.Join(dir, "evil.txt")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written outside the target", p)
				}
			}
		})
	}
	// A zip bomb: a small zip that expands far beyond --max-bytes.
	bomb := writeFile(t, filepath.Join(dir, "bomb.zip"), makeZip(t, map[string]string{"zeros": strings.Repeat("\x00", 10<<20)}))
	if fi, _ := os.Stat(bomb); fi.Size() > 100<<10 {
		t.Fatalf("the bomb is %d bytes", fi.Size())
	}
	err := seed(t, Config{Src: bomb, Target: target, MaxBytes: 1 << 20})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "--max-bytes") {
		t.Errorf("zip bomb: %v", err)
	}
	// A zip entry with "..".
	evil := writeFile(t, filepath.Join(dir, "evil.zip"), makeZip(t, map[string]string{"../evil.txt": "x"}))
	if err := seed(t, Config{Src: evil, Target: target}); err == nil || !strings.Contains(err.Error(), `"../evil.txt"`) {
		t.Errorf("zip ..: %v", err)
	}
}

// --sha256 pins an archive: a mismatch publishes nothing; a pinned
// download already seeded is not downloaded again.
func TestSHA256Pin(t *testing.T) {
	dir := t.TempDir()
	data := gz(makeTar(t, []tarEntry{{name: "f.txt", body: "pinned"}}))
	sum := sha256.Sum256(data)
	pin := hex.EncodeToString(sum[:])
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Write(data)
	}))
	defer srv.Close()
	target := filepath.Join(dir, "t")
	err := seed(t, Config{Src: srv.URL + "/a.tar.gz", Target: target, SHA256: strings.Repeat("0", 64)})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "want 0000") {
		t.Fatalf("mismatch: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "f.txt")); err == nil {
		t.Error("a mismatching archive was published")
	}
	if err := seed(t, Config{Src: srv.URL + "/a.tar.gz", Target: target, SHA256: pin}); err != nil || readFile(t, filepath.Join(target, "f.txt")) != "pinned" {
		t.Fatalf("pinned: %v", err)
	}
	before := gets.Load()
	if err := seed(t, Config{Src: srv.URL + "/a.tar.gz", Target: target, SHA256: pin}); err != nil || gets.Load() != before {
		t.Errorf("an already seeded pinned archive was downloaded again (%d → %d): %v", before, gets.Load(), err)
	}
	local := writeFile(t, filepath.Join(dir, "a.tar.gz"), data)
	err = seed(t, Config{Src: local, Target: filepath.Join(dir, "t2"), SHA256: strings.Repeat("1", 64)})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "(--sha256)") {
		t.Errorf("local mismatch: %v", err)
	}
}

// Downloads: 503 and a connection cut mid-body are retried; 404 fails at
// once.
func TestHTTPRetries(t *testing.T) {
	data := gz(makeTar(t, []tarEntry{{name: "big.bin", body: strings.Repeat("x", 1<<20)}}))
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Content-Length", "999999")
			w.Write(data[:len(data)/2]) // then the handler returns: the body is cut
		default:
			w.Write(data)
		}
	}))
	defer srv.Close()
	target := filepath.Join(t.TempDir(), "t")
	if err := seed(t, Config{Src: srv.URL + "/x.tar.gz", Target: target}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 || len(readFile(t, filepath.Join(target, "big.bin"))) != 1<<20 {
		t.Errorf("%d requests", n.Load())
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	err := seed(t, Config{Src: missing.URL + "/x.tar.gz", Target: target, Force: true})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("404: %v", err)
	}
}

// --chown and --chmod apply while writing; as non-root, --chown is not
// tried and a warning says so once.
func TestOwnerAndMode(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "d/f.txt"), []byte("x"))
	target := filepath.Join(dir, "t")
	logs := testlog.Capture(t)
	if err := seed(t, Config{Src: src, Target: target, Chown: "1234:2345", Chmod: 0o640}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(target, "d/f.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantUID, wantGID := uint32(1234), uint32(2345)
	if os.Geteuid() != 0 {
		wantUID, wantGID = uint32(os.Geteuid()), uint32(os.Getegid())
		if strings.Count(logs.String(), "--chown is not applied") != 1 {
			t.Errorf("as non-root, want one warning:\n%s", logs)
		}
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != wantUID || st.Gid != wantGID || fi.Mode().Perm() != 0o640 {
		t.Errorf("f.txt: %d:%d %v, want %d:%d 0640", st.Uid, st.Gid, fi.Mode(), wantUID, wantGID)
	}
	di, _ := os.Stat(filepath.Join(target, "d"))
	if st := di.Sys().(*syscall.Stat_t); st.Uid != wantUID {
		t.Errorf("directory d: owner %d", st.Uid)
	}
}

// Bad input: usage errors before anything is touched.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	arch := writeFile(t, filepath.Join(dir, "a.rar"), []byte("x"))
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Src: filepath.Join(dir, "nope"), Target: dir}, "no such file or directory"},
		{Config{Src: arch, Target: filepath.Join(dir, "t")}, "cannot tell the archive format"},
		{Config{Src: arch, Target: dir, SHA256: "abc"}, "want 64 hex digits"},
		{Config{Src: arch, Target: dir, IfEmpty: true, Force: true}, "contradict"},
		{Config{Src: arch, Target: dir, Format: "rar"}, "--format"},
		{Config{Src: arch, Target: dir, Chown: "me"}, "--chown"},
	} {
		if err := seed(t, tc.c); exitcode.Of(err) != exitcode.UsageCode || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want exit 2 with %q", tc.c, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "t")); err == nil {
		t.Error("a usage error created the target")
	}
}

// A directory's files are copied by the kernel, and still count against
// --max-bytes.
func TestDirectoryLimit(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src/big.bin"), bytes.Repeat([]byte("z"), 5000))
	err := seed(t, Config{Src: filepath.Join(dir, "src"), Target: filepath.Join(dir, "t"), MaxBytes: 1000})
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), "more than 1000 bytes") {
		t.Errorf("err = %v", err)
	}
	if err := seed(t, Config{Src: filepath.Join(dir, "src"), Target: filepath.Join(dir, "t")}); err != nil || len(readFile(t, filepath.Join(dir, "t/big.bin"))) != 5000 {
		t.Errorf("copy: %v", err)
	}
}

// A target that cannot be written fails at once: only the source's own
// troubles (a download that broke) are retried.
func TestUnwritableTargetFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, filepath.Join(dir, "a.tar"), makeTar(t, []tarEntry{{name: "f", body: "x"}}))
	blocker := writeFile(t, filepath.Join(dir, "file"), []byte("not a directory"))
	start := time.Now()
	err := seed(t, Config{Src: src, Target: filepath.Join(blocker, "target")})
	if exitcode.Of(err) != exitcode.Failure || time.Since(start) > 5*time.Second {
		t.Fatalf("exit %d after %v: %v", exitcode.Of(err), time.Since(start), err)
	}
}
