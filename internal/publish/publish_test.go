package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/internal/atomicfile"
)

// TestMain runs the helper mode used by the kill tests: publish version
// "new" and stop (for the parent's SIGKILL) at the step named in the
// environment.
func TestMain(m *testing.M) {
	if step := os.Getenv("PUBLISH_KILL_AT"); step != "" {
		testHook = func(s string) {
			if s == step {
				fmt.Println("READY")
				time.Sleep(time.Minute)
			}
		}
		_, err := Dir(context.Background(), os.Getenv("PUBLISH_DIR"), Options{}, fill(version2))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var (
	version1 = map[string]string{"username": "app-v1", "password": "pw-v1", "old-only": "v1", "conf/app.yaml": "v: 1"}
	version2 = map[string]string{"username": "app-v2", "password": "pw-v2", "new-only": "v2", "conf/app.yaml": "v: 2"}
)

func fill(files map[string]string) func(*Stage) error {
	return func(s *Stage) error {
		for n, v := range files {
			if err := s.WriteFile(n, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}
}

// read returns what a reader sees through the top-level names.
func read(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, "..") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil {
				got[rel] = "<dangling>"
				return nil
			}
			if fi.IsDir() {
				return filepath.WalkDir(p+"/", func(q string, e fs.DirEntry, err error) error {
					if err == nil && !e.IsDir() {
						b, _ := os.ReadFile(q)
						r, _ := filepath.Rel(dir, q)
						got[r] = string(b)
					}
					return err
				})
			}
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func versionDirs(t *testing.T, dir string) []string {
	entries, _ := os.ReadDir(dir)
	var v []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") && e.Name() != "..data" {
			v = append(v, e.Name())
		}
	}
	sort.Strings(v)
	return v
}

func TestPublishReplaceAndUnchanged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	changed, err := Dir(t.Context(), dir, Options{Mode: 0o600}, fill(version1))
	if err != nil || !changed {
		t.Fatalf("first publish: %v %v", changed, err)
	}
	if got := read(t, dir); !equal(got, version1) {
		t.Fatalf("after v1: %v", got)
	}
	fi, _ := os.Stat(filepath.Join(dir, "password"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if target, _ := os.Readlink(filepath.Join(dir, "password")); target != "..data/password" {
		t.Errorf("password links to %q", target)
	}

	before, _ := os.Readlink(filepath.Join(dir, "..data"))
	changed, err = Dir(t.Context(), dir, Options{Mode: 0o600}, fill(version1))
	if err != nil || changed {
		t.Fatalf("unchanged publish: changed=%v %v", changed, err)
	}
	if after, _ := os.Readlink(filepath.Join(dir, "..data")); after != before || len(versionDirs(t, dir)) != 1 {
		t.Errorf("an unchanged publish made a new version: %s → %s, %v", before, after, versionDirs(t, dir))
	}

	changed, err = Dir(t.Context(), dir, Options{Mode: 0o600}, fill(version2))
	if err != nil || !changed {
		t.Fatalf("second publish: %v %v", changed, err)
	}
	if got := read(t, dir); !equal(got, version2) {
		t.Fatalf("after v2: %v (old-only must be gone, new-only present)", got)
	}
	if v := versionDirs(t, dir); len(v) != 1 {
		t.Errorf("old versions left: %v", v)
	}
}

func TestModeChangeRepublishes(t *testing.T) {
	dir := t.TempDir()
	Dir(t.Context(), dir, Options{Mode: 0o644}, fill(version1))
	changed, err := Dir(t.Context(), dir, Options{Mode: 0o600}, fill(version1))
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "username"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

func TestRefusesToReplaceForeignFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "password"), []byte("user's own"), 0o644)
	os.WriteFile(filepath.Join(dir, "unrelated"), []byte("keep"), 0o644)
	_, err := Dir(t.Context(), dir, Options{}, fill(version1))
	if err == nil || !strings.Contains(err.Error(), "password exists and was not published by initbox") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "password")); string(b) != "user's own" {
		t.Error("a foreign file was replaced")
	}
	if _, err := os.Lstat(filepath.Join(dir, "..data")); !os.IsNotExist(err) || len(versionDirs(t, dir)) != 0 {
		t.Error("a failed publish left a version behind")
	}
	// Unrelated files are left alone by a successful publish.
	os.Remove(filepath.Join(dir, "password"))
	if _, err := Dir(t.Context(), dir, Options{}, fill(version1)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "unrelated")); string(b) != "keep" {
		t.Error("an unrelated file was touched")
	}
}

func TestBadNamesPublishNothing(t *testing.T) {
	for _, name := range []string{"../x", "a/../../x", "prefix/..", "/abs", `a\b`, "x\x00y", "\uff0e\uff0e/x", "..data", "a//b",
		strings.Repeat("n", 256), "ok/" + strings.Repeat("n", 256), "\xff"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "out")
			Dir(t.Context(), dir, Options{}, fill(version1))
			_, err := Dir(t.Context(), dir, Options{}, func(s *Stage) error {
				if err := s.WriteFile("fine", []byte("x")); err != nil {
					return err
				}
				return s.WriteFile(name, []byte("evil"))
			})
			if err == nil || !strings.Contains(err.Error(), "name ") {
				t.Fatalf("err = %v, want the name refused", err)
			}
			if got := read(t, dir); !equal(got, version1) {
				t.Errorf("the old version changed: %v", got)
			}
			entries, _ := os.ReadDir(parent)
			if len(entries) != 1 {
				t.Errorf("something was written next to the target: %v", entries)
			}
			if v := versionDirs(t, dir); len(v) != 1 {
				t.Errorf("staging left behind: %v", v)
			}
		})
	}
}

func TestLegalNames(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a..b": "1", "x/y/z.txt": "2", ".hidden": "3", "ünïcode": "4", "with space": "5"}
	if _, err := Dir(t.Context(), dir, Options{}, fill(files)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dir); !equal(got, files) {
		t.Fatalf("got %v", got)
	}
}

func TestFailedFillChangesNothing(t *testing.T) {
	dir := t.TempDir()
	Dir(t.Context(), dir, Options{}, fill(version1))
	boom := errors.New("source went away")
	_, err := Dir(t.Context(), dir, Options{}, func(s *Stage) error {
		s.WriteFile("username", []byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if got := read(t, dir); !equal(got, version1) || len(versionDirs(t, dir)) != 1 {
		t.Fatalf("after a failed fill: %v %v", got, versionDirs(t, dir))
	}
}

func TestCancelledStreamChangesNothing(t *testing.T) {
	dir := t.TempDir()
	Dir(t.Context(), dir, Options{}, fill(version1))
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("SIGTERM")
	_, err := Dir(ctx, dir, Options{}, func(s *Stage) error {
		return s.Write("big", func(w io.Writer) error {
			w.Write([]byte("part"))
			cancel(stop)
			return nil
		})
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v", err)
	}
	if got := read(t, dir); !equal(got, version1) || len(versionDirs(t, dir)) != 1 {
		t.Fatalf("after cancel: %v %v", got, versionDirs(t, dir))
	}
}

// SIGKILL at every step: whatever resolves is all old or all new (a name
// may dangle), and the next run completes and cleans up.
func TestKillAtEveryStep(t *testing.T) {
	for _, step := range []string{"staged", "linked", "swapped"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Dir(t.Context(), dir, Options{}, fill(version1)); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "PUBLISH_KILL_AT="+step, "PUBLISH_DIR="+dir)
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 6)
			if _, err := io.ReadFull(out, buf); err != nil {
				t.Fatalf("helper did not reach %s: %v", step, err)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			got := read(t, dir)
			fromV1, fromV2 := 0, 0
			for n, v := range got {
				switch {
				case v == "<dangling>":
				case version1[n] == v:
					fromV1++
				case version2[n] == v:
					fromV2++
				default:
					t.Errorf("%s = %q: from no version", n, v)
				}
			}
			if fromV1 > 0 && fromV2 > 0 {
				t.Fatalf("after a kill at %s the reader sees a mix: %v", step, got)
			}
			if step != "swapped" && fromV1 != len(version1) {
				t.Errorf("before the swap the old version must be whole: %v", got)
			}

			if _, err := Dir(t.Context(), dir, Options{}, fill(version2)); err != nil {
				t.Fatal(err)
			}
			if got := read(t, dir); !equal(got, version2) || len(versionDirs(t, dir)) != 1 {
				t.Fatalf("re-run: %v %v", got, versionDirs(t, dir))
			}
			if _, err := os.Lstat(filepath.Join(dir, "..data_tmp")); !os.IsNotExist(err) {
				t.Error("..data_tmp left")
			}
		})
	}
}

// A re-run with the old content after a run killed before its swap removes
// the links that run left for names it never published.
func TestUnchangedRerunRemovesDanglingLinks(t *testing.T) {
	dir := t.TempDir()
	Dir(t.Context(), dir, Options{}, fill(version1))
	os.Symlink("..data/new-only", filepath.Join(dir, "new-only")) // as a run killed at "linked" leaves it
	if _, err := Dir(t.Context(), dir, Options{}, fill(version1)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dir); !equal(got, version1) {
		t.Fatalf("got %v", got)
	}
}

func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root; CI runs as root")
	}
	dir := t.TempDir()
	if _, err := Dir(t.Context(), dir, Options{Owner: &atomicfile.Owner{UID: 1000, GID: 2000}}, fill(version1)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"..data/password", "..data/conf/app.yaml", "..data/conf", "..data"} {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 2000 {
			t.Errorf("%s owned by %d:%d", n, st.Uid, st.Gid)
		}
	}
}

func TestDirModeDespiteUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if _, err := Dir(t.Context(), dir, Options{DirMode: 0o750}, fill(version1)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"..data", "..data/conf"} {
		fi, _ := os.Stat(filepath.Join(dir, n))
		if fi.Mode().Perm() != 0o750 {
			t.Errorf("%s mode %v, want 0750", n, fi.Mode().Perm())
		}
	}
}

func TestCreateReuseAndMeta(t *testing.T) {
	dir := t.TempDir()
	first := func(s *Stage) error {
		f, err := s.Create("big/blob")
		if err != nil {
			return err
		}
		// Written out of order, as parallel ranged downloads do.
		f.WriteAt([]byte("world"), 6)
		f.WriteAt([]byte("hello "), 0)
		f.Sync()
		f.Close()
		if err := s.WriteFile("small", []byte("v1")); err != nil {
			return err
		}
		return s.WriteMeta("..manifest.json", []byte(`{"v":1}`))
	}
	if _, err := Dir(t.Context(), dir, Options{}, first); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dir); !equal(got, map[string]string{"big/blob": "hello world", "small": "v1"}) {
		t.Fatalf("got %v (the manifest must not be linked)", got)
	}
	blob1, _ := os.Stat(filepath.Join(dir, "..data/big/blob"))

	var prev []byte
	changed, err := Dir(t.Context(), dir, Options{}, func(s *Stage) error {
		prev, _ = s.Previous("..manifest.json")
		ok, err := s.Reuse("big/blob")
		if err != nil || !ok {
			return fmt.Errorf("reuse: %v %v", ok, err)
		}
		if err := s.WriteFile("small", []byte("v2")); err != nil {
			return err
		}
		return s.WriteMeta("..manifest.json", []byte(`{"v":2}`))
	})
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if string(prev) != `{"v":1}` {
		t.Errorf("Previous = %q", prev)
	}
	blob2, _ := os.Stat(filepath.Join(dir, "..data/big/blob"))
	if !os.SameFile(blob1, blob2) {
		t.Error("the reused file was copied, not linked")
	}
	if m, _ := os.ReadFile(filepath.Join(dir, "..data/..manifest.json")); string(m) != `{"v":2}` {
		t.Errorf("manifest = %q", m)
	}
	if got := read(t, dir); got["small"] != "v2" || got["big/blob"] != "hello world" {
		t.Fatalf("got %v", got)
	}

	// Everything reused and the same manifest: nothing to publish.
	changed, err = Dir(t.Context(), dir, Options{}, func(s *Stage) error {
		for _, n := range []string{"big/blob", "small"} {
			if ok, err := s.Reuse(n); !ok || err != nil {
				return fmt.Errorf("reuse %s: %v %v", n, ok, err)
			}
		}
		return s.WriteMeta("..manifest.json", []byte(`{"v":2}`))
	})
	if err != nil || changed {
		t.Fatalf("all reused: changed=%v err=%v", changed, err)
	}

	// Reuse is refused when the mode asked for differs: the caller downloads.
	if _, err := Dir(t.Context(), dir, Options{Mode: 0o600}, func(s *Stage) error {
		if ok, _ := s.Reuse("small"); ok {
			t.Error("reused a file with another mode")
		}
		return s.WriteFile("small", []byte("v3"))
	}); err != nil {
		t.Fatalf("writing a file whose reuse was refused: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "small")); string(b) != "v3" {
		t.Errorf("small = %q, want v3", b)
	}
	if err := (&Stage{}).WriteMeta("manifest", nil); err == nil {
		t.Error("a meta name without .. accepted")
	}
}

// Files are created from many goroutines at once (parallel downloads): all
// of them are published, the directories are made once, and a name given
// twice is still refused.
func TestConcurrentCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	_, err := Dir(t.Context(), dir, Options{Mode: 0o644}, func(s *Stage) error {
		errs := make(chan error, 64)
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Go(func() {
				f, err := s.Create(fmt.Sprintf("d%d/sub/f%02d", i%4, i))
				if err == nil {
					_, err = fmt.Fprintf(f, "%d", i)
					f.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		if _, err := s.Create("d1/sub/f01"); err == nil {
			t.Error("a name created twice was accepted")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 64 {
		if b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("d%d/sub/f%02d", i%4, i))); err != nil || string(b) != fmt.Sprint(i) {
			t.Errorf("file %d: %q %v", i, b, err)
		}
	}
}

// Reserve claims a name in the caller's order (a second claim fails there,
// and so does a link where the reserved file's directory is); the file
// itself is written later on another goroutine, with its mode.
func TestReserveThenWriteElsewhere(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	_, err := Dir(t.Context(), dir, Options{}, func(s *Stage) error {
		if err := s.Reserve("sub/run.sh"); err != nil {
			return err
		}
		if err := s.Reserve("sub/run.sh"); err == nil {
			t.Error("a name reserved twice was accepted")
		}
		if err := s.Symlink("sub", "elsewhere"); err == nil {
			t.Error("a link replaced the directory of a reserved file")
		}
		done := make(chan error)
		go func() { done <- s.WriteReserved("sub/run.sh", 0o755, []byte("#!/bin/sh\n")) }()
		return <-done
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "sub/run.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("sub/run.sh: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/run.sh")); string(b) != "#!/bin/sh\n" {
		t.Fatalf("sub/run.sh: %q", b)
	}
}

// A version is made durable with one syncfs of its filesystem; where syncfs
// is refused (a seccomp profile, another OS), every file and directory is
// fsynced instead and the publish still succeeds.
func TestVersionIsSynced(t *testing.T) {
	old, every := syncFS, writeBackEvery
	t.Cleanup(func() { syncFS, writeBackEvery = old, every })
	writeBackEvery = time.Hour // only the sync before the swap
	var synced []string
	syncFS = func(dir string) error {
		synced = append(synced, dir)
		return old(dir)
	}
	dir := filepath.Join(t.TempDir(), "out")
	fill := func(v string) func(*Stage) error {
		return func(s *Stage) error {
			for _, n := range []string{"a", "d/b", "d/e/c"} {
				if err := s.WriteFile(n, []byte(v)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if _, err := Dir(t.Context(), dir, Options{Mode: 0o644}, fill("v1")); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || !strings.HasPrefix(filepath.Base(synced[0]), "..") {
		t.Errorf("syncfs calls: %q, want one on the version directory", synced)
	}
	syncFS = func(string) error { return errors.New("operation not permitted") }
	if _, err := Dir(t.Context(), dir, Options{Mode: 0o644}, fill("v2")); err != nil {
		t.Fatalf("with syncfs refused: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d/e/c")); string(b) != "v2" {
		t.Errorf("d/e/c = %q, want v2", b)
	}
}

// While a version is filled, the filesystem is synced every writeBackEvery
// (the disk writes what is staged so far while fill goes on), and no sync
// outlives Dir.
func TestWriteBackWhileFilling(t *testing.T) {
	old, every := syncFS, writeBackEvery
	t.Cleanup(func() { syncFS, writeBackEvery = old, every })
	writeBackEvery = time.Millisecond
	var mu sync.Mutex
	var synced []string
	returned := false
	twice := make(chan struct{})
	syncFS = func(dir string) error {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			t.Errorf("syncfs of %s after Dir returned", dir)
		}
		synced = append(synced, dir)
		if len(synced) == 2 {
			close(twice)
		}
		return old(dir)
	}
	dir := filepath.Join(t.TempDir(), "out")
	_, err := Dir(t.Context(), dir, Options{}, func(s *Stage) error {
		if err := s.WriteFile("a", []byte("1")); err != nil {
			return err
		}
		select { // a long fill: the write-back syncs meanwhile
		case <-twice:
		case <-time.After(30 * time.Second):
			return errors.New("no write-back sync while filling for 30s")
		}
		return s.WriteFile("b", []byte("2"))
	})
	mu.Lock()
	returned = true
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range synced {
		if !strings.HasPrefix(filepath.Base(d), "..") || filepath.Dir(d) != dir {
			t.Errorf("synced %s, want the version directory in %s", d, dir)
		}
	}
}

// The directories Dir makes get the version directories' mode whatever the
// umask: under umask 077 the application's user must still enter them.
func TestMadeDirectoriesIgnoreTheUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "a", "b")
	if _, err := Dir(t.Context(), dir, Options{Mode: 0o644}, func(s *Stage) error { return s.WriteFile("f", []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, %v; want 0755", d, fi.Mode(), err)
		}
	}
}
