package k8s

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/initbox/initbox/internal/testpki"
)

// apiServer serves the real Kubernetes API JSON (objects built from the
// official k8s.io/api types) for the calls initbox makes: list with field and
// label selectors, watch streams, discovery, and 401/403 Status bodies.
type apiServer struct {
	t     *testing.T
	srv   *httptest.Server
	pki   *testpki.PKI
	token string

	mu        sync.Mutex
	rv        int
	objects   map[string]map[string][]byte // collection path → name → JSON
	watchers  map[string][]chan metav1.WatchEvent
	forbid    map[string]bool   // "list /path" or "watch /path"
	discovery map[string]any    // path → APIResourceList or APIGroup
	requests  []string          // "list /path" / "watch /path" / "get /path"
	tokens    []string          // the bearer tokens seen
	proto     string            // the protocol of the last request
	tokenOK   func(string) bool // accepts a bearer token (default: token)
	expire    bool              // answer the next watch with 410 Gone
	watching  chan string       // receives "watch /path" when a watch starts
}

func newAPIServer(t *testing.T) *apiServer {
	a := &apiServer{t: t, token: "sa-Token-5e6f7a", objects: map[string]map[string][]byte{},
		watchers: map[string][]chan metav1.WatchEvent{}, forbid: map[string]bool{}, discovery: map[string]any{},
		watching: make(chan string, 100)}
	a.pki = testpki.New(t, "127.0.0.1", "localhost")
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.srv.TLS = a.pki.ServerTLS(false)
	a.srv.EnableHTTP2 = true // as a real API server speaks
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *apiServer) lastProto() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proto
}

func (a *apiServer) status(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string, details *metav1.StatusDetails) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Message: msg, Reason: reason, Details: details, Code: int32(code)})
}

func (a *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.tokens = append(a.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	a.proto = r.Proto
	a.mu.Unlock()
	a.mu.Lock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if a.tokenOK != nil {
		ok = ok && a.tokenOK(tok)
	} else {
		ok = ok && tok == a.token
	}
	a.mu.Unlock()
	if !ok {
		a.status(w, 401, metav1.StatusReasonUnauthorized, "Unauthorized", nil)
		return
	}
	path := r.URL.Path
	q := r.URL.Query()
	a.mu.Lock()
	if d, ok := a.discovery[path]; ok {
		a.requests = append(a.requests, "get "+path)
		a.mu.Unlock()
		json.NewEncoder(w).Encode(d)
		return
	}
	verb := "list"
	if q.Get("watch") == "1" {
		verb = "watch"
	}
	a.requests = append(a.requests, verb+" "+path)
	forbidden := a.forbid[verb+" "+path]
	_, known := a.objects[path]
	a.mu.Unlock()
	parts := strings.Split(path, "/")
	resourceName, group := parts[len(parts)-1], ""
	if parts[1] == "apis" {
		group = parts[2]
	}
	if forbidden {
		a.status(w, 403, metav1.StatusReasonForbidden, fmt.Sprintf("%s is forbidden: User \"system:serviceaccount:ns:app\" cannot %s resource %q in API group %q in the namespace \"ns\"",
			resourceName, verb, resourceName, group), &metav1.StatusDetails{Group: group, Kind: resourceName})
		return
	}
	if !known {
		a.status(w, 404, metav1.StatusReasonNotFound, "the server could not find the requested resource", nil)
		return
	}
	if verb == "watch" {
		a.serveWatch(w, r, path)
		return
	}
	a.mu.Lock()
	var items []json.RawMessage
	for _, raw := range a.objects[path] {
		if matches(raw, q) {
			items = append(items, raw)
		}
	}
	rv := strconv.Itoa(a.rv)
	a.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"kind": "List", "apiVersion": "v1", "metadata": map[string]any{"resourceVersion": rv}, "items": items})
}

// matches applies metadata.name= field selectors and k=v label selectors.
func matches(raw []byte, q url.Values) bool {
	var o struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	json.Unmarshal(raw, &o)
	if fs := q.Get("fieldSelector"); fs != "" && "metadata.name="+o.Metadata.Name != fs {
		return false
	}
	if ls := q.Get("labelSelector"); ls != "" {
		k, v, _ := strings.Cut(ls, "=")
		if o.Metadata.Labels[k] != v {
			return false
		}
	}
	return true
}

func (a *apiServer) serveWatch(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Content-Type", "application/json")
	flusher := w.(http.Flusher)
	enc := json.NewEncoder(w)
	a.mu.Lock()
	if a.expire {
		a.expire = false
		a.mu.Unlock()
		st, _ := json.Marshal(metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
		enc.Encode(metav1.WatchEvent{Type: "ERROR", Object: runtime.RawExtension{Raw: st}})
		return
	}
	ch := make(chan metav1.WatchEvent, 10)
	a.watchers[path] = append(a.watchers[path], ch)
	a.mu.Unlock()
	w.WriteHeader(200)
	flusher.Flush()
	a.watching <- "watch " + path
	timeout, _ := strconv.Atoi(r.URL.Query().Get("timeoutSeconds"))
	timer := time.NewTimer(time.Duration(timeout) * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev := <-ch:
			if matches(ev.Object.Raw, r.URL.Query()) {
				enc.Encode(ev)
				flusher.Flush()
			}
		case <-timer.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// set stores an object (any k8s.io/api type, or a map) in a collection and
// tells the watchers.
func (a *apiServer) set(path string, obj any) {
	a.t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		a.t.Fatal(err)
	}
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	json.Unmarshal(raw, &meta)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rv++
	if a.objects[path] == nil {
		a.objects[path] = map[string][]byte{}
	}
	typ := "MODIFIED"
	if _, ok := a.objects[path][meta.Metadata.Name]; !ok {
		typ = "ADDED"
	}
	a.objects[path][meta.Metadata.Name] = raw
	for _, ch := range a.watchers[path] {
		select {
		case ch <- metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: raw}}:
		default:
		}
	}
}

// collection declares an (empty) collection the API serves.
func (a *apiServer) collection(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.objects[path] == nil {
		a.objects[path] = map[string][]byte{}
	}
}

func (a *apiServer) count(req string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, r := range a.requests {
		if r == req {
			n++
		}
	}
	return n
}
