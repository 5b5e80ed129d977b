package fetch

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/awss3"
	"github.com/initbox/initbox/internal/exitcode"
)

// hostileStore is an S3 endpoint that serves what MinIO refuses to store:
// keys that climb out, keys that contradict each other, listings that do
// not end, answers and bodies larger than they say. It speaks the real
// wire format (ListObjectsV2 XML, HEAD and GET of objects).
type hostileStore struct {
	objects map[string]string // key → content
	endless bool              // every listing page says there is another
	hugeXML bool              // a listing answer larger than any cap
	hugeLen bool              // a listing that says it is larger than any cap, then hangs
	liar    bool              // bodies longer than the listed size
}

func (s *hostileStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		w.Header().Set("Content-Type", "application/xml")
		if s.hugeLen {
			// Refused by its Content-Length: a client that reads it waits
			// for bytes that never come.
			w.Header().Set("Content-Length", strconv.Itoa(40<<20))
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>`)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		if s.hugeXML {
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Prefix>`)
			chunk := strings.Repeat("x", 1<<20)
			for range 40 {
				fmt.Fprint(w, chunk)
			}
			fmt.Fprint(w, `</Prefix></ListBucketResult>`)
			return
		}
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>`)
		if s.endless {
			fmt.Fprint(w, `<IsTruncated>true</IsTruncated><NextContinuationToken>again</NextContinuationToken></ListBucketResult>`)
			return
		}
		fmt.Fprint(w, `<IsTruncated>false</IsTruncated>`)
		prefix := r.URL.Query().Get("prefix")
		for k, v := range s.objects {
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			fmt.Fprint(w, "<Contents><Key>")
			xml.EscapeText(w, []byte(k))
			fmt.Fprintf(w, `</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e%d"</ETag><Size>%d</Size></Contents>`, len(v), len(v))
		}
		fmt.Fprint(w, `</ListBucketResult>`)
	case r.Method == http.MethodHead || r.Method == http.MethodGet:
		v, ok := s.objects[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body := v
		if s.liar {
			body += strings.Repeat("!", 1<<20)
		}
		w.Header().Set("ETag", fmt.Sprintf(`"e%d"`, len(v)))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			w.Write([]byte(body))
		}
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// What a store serves is remote input: every hostile listing is refused
// with exit 1 and a message naming the key, nothing is written outside the
// target, and the previous state stays.
func TestHostileStore(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAHOSTILE0000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "hostile-Secret-0")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	store := &hostileStore{}
	srv := httptest.NewServer(store)
	defer srv.Close()
	base := t.TempDir()
	out := filepath.Join(base, "vol", "config") + "/"
	os.WriteFile(filepath.Join(base, "sentinel"), []byte("SENTINEL"), 0o644)
	opts := awss3.Options{Endpoint: srv.URL}
	store.objects = map[string]string{"p/ok.txt": "good"}
	must(t, run(t, Config{Refs: []string{"s3://b/p/"}, Out: out, Sources: s3Source(opts)}))

	for _, tc := range []struct {
		name    string
		objects map[string]string
		store   hostileStore
		c       Config
		want    string
	}{
		{name: "dot-dot", objects: map[string]string{"p/../../evil": "x"}, want: `key "p/../../evil"`},
		{name: "dot-dot element", objects: map[string]string{"p/a/../../../evil": "x"}, want: `".." as a path element`},
		{name: "empty element", objects: map[string]string{"p/a//b": "x"}, want: "empty path element"},
		{name: "backslash", objects: map[string]string{`p/..\evil`: "x"}, want: "backslash"},
		{name: "C1 control", objects: map[string]string{"p/a\u0085b": "x"}, want: "control character"},
		{name: "two dot leader", objects: map[string]string{"p/\u2025/evil": "x"}, want: `".." as a path element`},
		{name: "reserved name", objects: map[string]string{"p/..data/x": "x"}, want: "reserved"},
		{name: "a directory marker with content", objects: map[string]string{"p/a/": "content"}, want: `key "p/a/" ends in / but holds 7 bytes`},
		{name: "a file and a directory", objects: map[string]string{"p/a": "x", "p/a/b": "y"}, want: `would be a file where key`},
		{name: "more objects than allowed", objects: map[string]string{"p/1": "1", "p/2": "2", "p/3": "3"}, c: Config{MaxObjects: 2}, want: "more than 2 objects"},
		{name: "more bytes than allowed", objects: map[string]string{"p/big": strings.Repeat("b", 2048)}, c: Config{MaxBytes: 1024}, want: "more than 1.0 KiB (--max-bytes)"},
		{name: "a listing that never ends", store: hostileStore{endless: true}, c: Config{MaxObjects: 50}, want: "does not end"},
		{name: "a listing larger than any answer", store: hostileStore{hugeXML: true}, want: "larger than 16 MiB"},
		{name: "a listing said to be larger than any answer", store: hostileStore{hugeLen: true}, want: "larger than 16 MiB"},
		{name: "a body longer than listed", objects: map[string]string{"p/x": "abc"}, store: hostileStore{liar: true}, want: "more than the 3 bytes it listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*store = tc.store
			store.objects = tc.objects
			c := tc.c
			c.Refs, c.Out, c.Sources = []string{"s3://b/p/"}, out, s3Source(opts)
			start := time.Now()
			err := run(t, c)
			if exitcode.Of(err) != exitcode.Failure || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d: %v\nwant exit 1 with %q", exitcode.Of(err), err, tc.want)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v: retried what waiting cannot fix", took)
			}
			if b, err := os.ReadFile(filepath.Join(out, "ok.txt")); err != nil || string(b) != "good" {
				t.Errorf("the previous state is gone: %q, %v", b, err)
			}
			entries, _ := os.ReadDir(base)
			if len(entries) != 2 {
				t.Errorf("written beside the target: %v", entries)
			}
			if b, _ := os.ReadFile(filepath.Join(base, "sentinel")); string(b) != "SENTINEL" {
				t.Error("the sentinel changed")
			}
			if strings.Contains(err.Error(), "hostile-Secret-0") {
				t.Error("the secret key is in the error")
			}
		})
	}
}
