package seed

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/initbox/initbox/internal/awss3"
	"github.com/initbox/initbox/internal/exitcode"
	"github.com/initbox/initbox/internal/testserver"
	seeds3 "github.com/initbox/initbox/seed/s3"
	"github.com/initbox/initbox/seed/source"
)

// hostileCase is one input built to break seed.
type hostileCase struct {
	name    string
	entries []tarEntry
	raw     []byte // instead of entries: the archive's bytes (tar.gz)
	c       Config // limits
	want    string // in the one-line error
}

// link is a symlink entry.
func link(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeSymlink, link: target}
}

func hostileCorpus(t *testing.T) []hostileCase {
	deep := strings.Repeat("d/l/", 20) + strings.Repeat("../", 20) + "etc"
	zeros := make([]byte, 64<<20)
	var trailing bytes.Buffer // a small tar, then 64 MiB of zeros inside the same gzip stream
	trailing.Write(makeTar(t, []tarEntry{{name: "small.txt", body: "x"}}))
	trailing.Write(zeros)
	return []hostileCase{
		// Links that leave through other links, in both orders.
		{name: "link chain through d/l -> ..", entries: []tarEntry{{name: "d/", typ: tar.TypeDir}, link("d/l", ".."), link("x", deep)}, want: `link "x"`},
		{name: "link chain, the escaping link first", entries: []tarEntry{link("x", deep), {name: "d/", typ: tar.TypeDir}, link("d/l", "..")}, want: `link "x"`},
		{name: "link through an absolute link", entries: []tarEntry{link("r", "/"), link("x", "r/etc/passwd")}, want: `entry "r": link to "/"`},
		{name: "link to a link that leaves", entries: []tarEntry{link("a", "b"), link("b", "../x")}, want: `"b"`},
		{name: "link up from a subdirectory", entries: []tarEntry{{name: "a/", typ: tar.TypeDir}, link("a/up", "../..")}, want: `"a/up"`},
		{name: "a loop of links", entries: []tarEntry{link("a", "b"), link("b", "a")}, want: "more than 40 links"},
		{name: "a dangling link that would climb out", entries: []tarEntry{link("l", "missing/../../etc")}, want: `entry "l": link to "missing/../../etc" leads out`},
		{name: "a file written through a link", entries: []tarEntry{{name: "sub/", typ: tar.TypeDir}, link("l", "sub"), {name: "l/f.txt", body: "x"}}, want: `its parent "l" is a symbolic link`},
		{name: "a 512 KiB link target", entries: []tarEntry{link("l", strings.Repeat("a/", 1<<18))}, want: "(at most 4096)"},
		// Names.
		{name: "dot-dot", entries: []tarEntry{{name: "../evil.txt", body: "x"}}, want: `"../evil.txt"`},
		{name: "C1 control", entries: []tarEntry{{name: "a\u0085b", body: "x"}}, want: "control character"},
		{name: "two dot leader", entries: []tarEntry{{name: "\u2025/evil.txt", body: "x"}}, want: `".." as a path element`},
		{name: "fullwidth solidus", entries: []tarEntry{{name: "a\uff0f..\uff0fevil", body: "x"}}, want: `reads as "/"`},
		// Entries that contradict each other: the later one is named, in words.
		{name: "a file, then a file below it", entries: []tarEntry{{name: "a", body: "x"}, {name: "a/b", body: "y"}}, want: `entry "a/b": name "a/b": needs "a" to be a directory, but an earlier entry made it a file or a link`},
		{name: "a file below, then a file", entries: []tarEntry{{name: "a/b", body: "y"}, {name: "a", body: "x"}}, want: `entry "a": name "a" is a directory already`},
		{name: "a file, then a directory", entries: []tarEntry{{name: "a", body: "x"}, {name: "a/", typ: tar.TypeDir}}, want: `name "a": a directory, but an earlier entry made it a file`},
		{name: "a name twice", entries: []tarEntry{{name: "a", body: "x"}, {name: "a", body: "y"}}, want: `"a": given twice`},
		// Kinds refused.
		{name: "hard link", entries: []tarEntry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, want: "a hard link"},
		{name: "fifo", entries: []tarEntry{{name: "p", typ: tar.TypeFifo}}, want: "a device or FIFO"},
		// Caps.
		{name: "bytes after the tar's end count", raw: gz(trailing.Bytes()), c: Config{MaxBytes: 1 << 20}, want: "--max-bytes"},
		{name: "a declared size over the cap", entries: []tarEntry{{name: "big", body: strings.Repeat("z", 2<<20)}}, c: Config{MaxBytes: 1 << 20}, want: `entry "big": 2097152 bytes`},
		{name: "too many entries", entries: manyFiles(101), c: Config{MaxEntries: 100}, want: "more than 100 entries"},
		{name: "gzip with garbage after it", raw: append(gz(makeTar(t, []tarEntry{{name: "f", body: "x"}})), []byte("GARBAGE-AFTER-THE-STREAM")...), want: "reading the archive"},
	}
}

func manyFiles(n int) []tarEntry {
	var e []tarEntry
	for i := range n {
		e = append(e, tarEntry{name: "f" + strings.Repeat("x", i%7) + "/" + string(rune('a'+i%26)) + strings.Repeat("y", i), body: "."})
	}
	return e
}

// hostileDir is a target next to a sentinel: a good state is seeded first,
// and after every hostile input the target must still hold it, the
// sentinel be untouched, nothing be created beside the target, and every
// link in the target resolve inside it.
type hostileDir struct {
	base, target string
}

func newHostileDir(t *testing.T) hostileDir {
	base := t.TempDir()
	h := hostileDir{base: base, target: filepath.Join(base, "vol", "data")}
	writeFile(t, filepath.Join(base, "etc", "passwd"), []byte("SENTINEL"))
	good := writeFile(t, filepath.Join(t.TempDir(), "good.tar"), makeTar(t, []tarEntry{{name: "ok.txt", body: "good"}, {name: "d/", typ: tar.TypeDir}, link("d/home", "../ok.txt")}))
	if err := seed(t, Config{Src: good, Target: h.target}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h hostileDir) check(t *testing.T) {
	t.Helper()
	if got := readFile(t, filepath.Join(h.target, "ok.txt")); got != "good" {
		t.Errorf("the previous state is gone: ok.txt = %q", got)
	}
	if got := readFile(t, filepath.Join(h.base, "etc", "passwd")); got != "SENTINEL" {
		t.Errorf("the sentinel outside the target changed: %q", got)
	}
	var outside []string
	filepath.Walk(h.base, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !strings.HasPrefix(p, h.target) && p != h.base && p != filepath.Join(h.base, "vol") &&
			p != filepath.Join(h.base, "etc") && p != filepath.Join(h.base, "etc", "passwd") {
			outside = append(outside, p)
		}
		return nil
	})
	sort.Strings(outside)
	if len(outside) > 0 {
		t.Errorf("written outside the target: %v", outside)
	}
	filepath.Walk(h.target, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			if to, err := filepath.EvalSymlinks(p); err == nil && !strings.HasPrefix(to, h.target+"/") && to != h.target {
				t.Errorf("the link %s leads to %s, outside the target", p, to)
			}
		}
		return nil
	})
}

func (tc hostileCase) tarGz(t *testing.T) []byte {
	if tc.raw != nil {
		return tc.raw
	}
	return gz(makeTar(t, tc.entries))
}

// zipOf is the case as a zip (links as zip's symlink entries), where zip
// can hold it.
func (tc hostileCase) zipOf(t *testing.T) ([]byte, bool) {
	if tc.raw != nil {
		return nil, false
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range tc.entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch e.typ {
		case tar.TypeSymlink:
			fh.SetMode(os.ModeSymlink | 0o777)
		case tar.TypeDir:
			fh.SetMode(os.ModeDir | 0o755)
		case 0, tar.TypeReg:
			fh.SetMode(0o644)
		default:
			return nil, false // zip has no hard links, devices or FIFOs
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body + e.link))
	}
	zw.Close()
	return buf.Bytes(), true
}

func runHostile(t *testing.T, h hostileDir, tc hostileCase, c Config) {
	t.Helper()
	lim := tc.c
	c.Target, c.MaxBytes, c.MaxEntries = h.target, lim.MaxBytes, lim.MaxEntries
	err := seed(t, c)
	if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) {
		t.Errorf("exit %d: %v\nwant exit 1 with %q", exitcode.Of(err), err, tc.want)
	} else if len(err.Error()) > 2048 || strings.Contains(err.Error(), "\n") {
		t.Errorf("the message is not one short line: %d bytes", len(err.Error()))
	}
	h.check(t)
}

// Every hostile input, from a file (tar.gz and zip) and over https, is
// refused with exit 1 and a message naming it; nothing leaves the target and
// the previous state stays.
func TestHostileArchives(t *testing.T) {
	h := newHostileDir(t)
	files := t.TempDir()
	served := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := served[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	for i, tc := range hostileCorpus(t) {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.tarGz(t)
			t.Run("file", func(t *testing.T) {
				runHostile(t, h, tc, Config{Src: writeFile(t, filepath.Join(files, tc.name+".tar.gz"), data)})
			})
			t.Run("https", func(t *testing.T) {
				p := "/" + strings.Repeat("x", i) + ".tar.gz"
				served[p] = data
				runHostile(t, h, tc, Config{Src: srv.URL + p})
			})
			if z, ok := tc.zipOf(t); ok {
				t.Run("zip", func(t *testing.T) {
					runHostile(t, h, tc, Config{Src: writeFile(t, filepath.Join(files, tc.name+".zip"), z)})
				})
			}
		})
	}
}

// The same corpus as objects in a real MinIO (tar.gz).
func TestHostileArchivesFromS3(t *testing.T) {
	m := testserver.StartMinIO(t, testserver.MinIOOptions{})
	t.Setenv("AWS_ACCESS_KEY_ID", testserver.MinIOUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testserver.MinIOPassword)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testserver.MinIOUser, testserver.MinIOPassword, "")})
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("hostile")}); err != nil {
		t.Fatal(err)
	}
	opts := map[string]source.Options{"s3": &seeds3.Options{Options: awss3.Options{Endpoint: m.Endpoint}}}
	h := newHostileDir(t)
	for i, tc := range hostileCorpus(t) {
		t.Run(tc.name, func(t *testing.T) {
			key := "case-" + strings.Repeat("n", i) + ".tar.gz"
			if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("hostile"), Key: aws.String(key), Body: bytes.NewReader(tc.tarGz(t))}); err != nil {
				t.Fatal(err)
			}
			runHostile(t, h, tc, Config{Src: "s3://hostile/" + key, Sources: opts})
		})
	}
}

// What waiting cannot fix fails at once: an https redirect to file://, to
// plain http, a zip download past --max-bytes, a server that sends gzip it
// was not asked for.
func TestHostileDownloads(t *testing.T) {
	h := newHostileDir(t)
	archive := gz(makeTar(t, []tarEntry{{name: "zeros", body: strings.Repeat("\x00", 4<<20)}}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-file.tar.gz":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/big.zip":
			w.Write(bytes.Repeat([]byte("Z"), 3<<20))
		case "/encoded.tar":
			// The tar, gzip-encoded by a server that was not asked: the
			// archive's bytes are what arrives, and they are not a tar.
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(archive)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name, src, want string
		max             int64
	}{
		{"redirect to file://", srv.URL + "/to-file.tar.gz", "only http(s) is followed", 0},
		{"zip larger than --max-bytes", srv.URL + "/big.zip", "larger than --max-bytes", 1 << 20},
		{"an encoding nobody asked for", srv.URL + "/encoded.tar", "reading the archive", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runHostile(t, h, hostileCase{want: tc.want, c: Config{MaxBytes: tc.max}}, Config{Src: tc.src})
		})
	}
}
