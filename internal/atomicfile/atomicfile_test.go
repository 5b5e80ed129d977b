package atomicfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helper modes run in a subprocess of the test binary, so that the test
// can kill a real writer or run one as an unprivileged user.
func TestMain(m *testing.M) {
	switch os.Getenv("ATOMICFILE_HELPER") {
	case "":
		os.Exit(m.Run())
	case "block-before-rename":
		testHookBeforeRename = func(tmp string) {
			fmt.Println("READY") // the parent kills us now
			time.Sleep(time.Minute)
		}
		fallthrough
	case "write":
		_, err := WriteFile(context.Background(), os.Getenv("ATOMICFILE_PATH"), []byte("new content\n"), Options{Mode: 0o600})
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func helper(t *testing.T, mode, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_HELPER="+mode, "ATOMICFILE_PATH="+path)
	return cmd
}

func TestWriteNewFileHasExactMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, mode := range []fs.FileMode{0o600, 0o644, 0o640, 0o755} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			changed, err := WriteFile(t.Context(), path, []byte("x"), Options{Mode: mode})
			if err != nil || !changed {
				t.Fatalf("WriteFile: changed=%v err=%v", changed, err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != mode {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), mode)
			}
		})
	}
}

func TestDefaultModeDespiteUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "f")
	if _, err := WriteFile(t.Context(), path, []byte("x"), Options{}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != DefaultMode {
		t.Errorf("mode = %v, want %v", fi.Mode().Perm(), DefaultMode)
	}
}

// A secret must never be readable by others, not even while it is written:
// the temp file already has its final mode when the first byte lands (the
// race consul-template fixed in hashicorp/consul-template#1035, where files
// were created 0644 and chmodded afterwards).
func TestTempFileHasFinalModeBeforeRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	var seen fs.FileMode
	testHookBeforeRename = func(tmp string) {
		fi, err := os.Stat(tmp)
		if err == nil {
			seen = fi.Mode().Perm()
		}
	}
	defer func() { testHookBeforeRename = nil }()
	if _, err := WriteFile(t.Context(), path, []byte("s3cret"), Options{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if seen != 0o600 {
		t.Fatalf("temp file mode before rename = %v, want 0600", seen)
	}
}

func TestUnchangedContentIsNotRewritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if _, err := WriteFile(t.Context(), path, []byte("same"), Options{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	changed, err := WriteFile(t.Context(), path, []byte("same"), Options{})
	if err != nil || changed {
		t.Fatalf("second write: changed=%v err=%v, want false, nil", changed, err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Error("file was replaced although its content did not change")
	}
}

func TestSameContentNewModeIsChmodded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if _, err := WriteFile(t.Context(), path, []byte("same"), Options{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	changed, err := WriteFile(t.Context(), path, []byte("same"), Options{Mode: 0o600})
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	after, _ := os.Stat(path)
	if after.Mode().Perm() != 0o600 || !os.SameFile(before, after) {
		t.Errorf("mode=%v sameFile=%v; want 0600 on the same inode", after.Mode().Perm(), os.SameFile(before, after))
	}
}

func TestChangedContentReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, content := range []string{"one", "two", "three, longer"} {
		if _, err := WriteFile(t.Context(), path, []byte(content), Options{}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if string(got) != content {
			t.Fatalf("content = %q, want %q", got, content)
		}
	}
}

func TestTargetIsDirectory(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "sub")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := WriteFile(t.Context(), target, []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("err = %v, want 'is a directory'", err)
	}
	assertNoLeftovers(t, dir, "sub")
}

func TestTargetIsSymlink(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	_, err := WriteFile(t.Context(), link, []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if got, _ := os.ReadFile(outside); string(got) != "keep" {
		t.Fatal("the symlink's target was modified")
	}
}

// A symlink planted at the temp name must not be followed: O_EXCL refuses
// it, and the leftover is removed, not written through.
func TestSymlinkAtTempNameIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "f")
	if err := os.Symlink(outside, TempName(path)); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFile(t.Context(), path, []byte("new"), Options{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outside); string(got) != "keep" {
		t.Fatal("write went through the planted symlink")
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Fatalf("content = %q", got)
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })

	var err error
	if os.Geteuid() == 0 {
		// root ignores directory modes; write as an unprivileged user in a
		// subprocess to meet the permission check for real.
		cmd := helper(t, "write", path)
		cmd.Path = copyExecutable(t)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if runErr := cmd.Run(); runErr != nil {
			err = fmt.Errorf("%v: %s", runErr, stderr.String())
		}
	} else {
		_, err = WriteFile(t.Context(), path, []byte("new"), Options{})
	}
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("err = %v, want permission denied", err)
	}
	if os.Geteuid() == 0 && !strings.Contains(err.Error(), "helper: writing "+path) {
		t.Fatalf("err = %v; the unprivileged helper did not run the write", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("content = %q, want the old file", got)
	}
	assertNoLeftovers(t, dir, "f")
}

// SIGKILL between write and rename: the old file stays whole, and the next
// write removes the leftover temp file and completes.
func TestKillBeforeRenameLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte("old content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := helper(t, "block-before-rename", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "READY\n" {
		t.Fatalf("helper did not reach the rename: %q %v", buf, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	if got, _ := os.ReadFile(path); string(got) != "old content\n" {
		t.Fatalf("after kill: content = %q, want the old file", got)
	}
	if left, _ := filepath.Glob(TempName(path) + ".*"); len(left) != 1 {
		t.Fatalf("expected the killed run's temp file to be left: %v", left)
	}

	if _, err := WriteFile(t.Context(), path, []byte("new content\n"), Options{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new content\n" {
		t.Fatalf("after re-run: content = %q", got)
	}
	assertNoLeftovers(t, dir, "config")
}

func TestCancelledWriteRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("SIGTERM")
	err := Write(ctx, path, Options{}, func(w io.Writer) error {
		if _, err := w.Write([]byte("partial")); err != nil {
			return err
		}
		cancel(stop)
		_, err := w.Write([]byte("more"))
		return err
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the cancel cause", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("content = %q, want old", got)
	}
	assertNoLeftovers(t, dir, "big")
}

func TestLongNameUsesHashedTemp(t *testing.T) {
	dir := t.TempDir()
	name := strings.Repeat("n", 250)
	path := filepath.Join(dir, name)
	if len(filepath.Base(TempName(path))) > 255 {
		t.Fatalf("temp name too long: %d", len(filepath.Base(TempName(path))))
	}
	if _, err := WriteFile(t.Context(), path, []byte("x"), Options{}); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, dir, name)
}

func TestMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "f")
	_, err := WriteFile(t.Context(), path, []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
}

func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing the owner needs root; covered when the suite runs as root (CI does)")
	}
	path := filepath.Join(t.TempDir(), "f")
	if _, err := WriteFile(t.Context(), path, []byte("x"), Options{Owner: &Owner{UID: 65532, GID: 65533}}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 65532 || st.Gid != 65533 {
		t.Fatalf("owner = %d:%d", st.Uid, st.Gid)
	}
	// Same content, other owner: fixed in place.
	changed, err := WriteFile(t.Context(), path, []byte("x"), Options{Owner: &Owner{UID: 1, GID: 1}})
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	fi, _ = os.Stat(path)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1 || st.Gid != 1 {
		t.Fatalf("owner after fix = %d:%d", st.Uid, st.Gid)
	}
}

// copyExecutable copies the test binary where an unprivileged user can run
// it: go test builds it in a directory only root may enter.
func copyExecutable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(d, fi.Mode().Perm()) })
		}
	}
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "helper.test")
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

func assertNoLeftovers(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), tempSuffix) {
			t.Errorf("leftover temp file %s for %s", e.Name(), name)
		}
	}
}

func TestBeginWriteAtCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "blob")
	os.WriteFile(path, []byte("old"), 0o644)
	tmp, err := Begin(path, Options{Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	tmp.File.WriteAt([]byte("world"), 6)
	tmp.File.WriteAt([]byte("hello "), 0)
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatal("the target changed before Commit")
	}
	if err := tmp.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hello world" {
		t.Fatalf("content %q", b)
	}
	tmp, err = Begin(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tmp.File.WriteString("abandoned")
	tmp.Abort()
	if b, _ := os.ReadFile(path); string(b) != "hello world" {
		t.Fatalf("Abort changed the target: %q", b)
	}
	assertNoLeftovers(t, dir, "blob")
	if _, err := Begin(dir, Options{}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Begin on a directory: %v", err)
	}
}

// StartWriteback starts writing a range to disk without waiting; it works on
// a regular file being written at offsets and fails on a closed one.
func TestStartWriteback(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "big"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 1<<20), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := StartWriteback(f, 1<<20, 1<<20); err != nil {
		t.Errorf("on a regular file: %v", err)
	}
	f.Close()
	if err := StartWriteback(f, 0, 1); err == nil {
		t.Error("on a closed file: no error")
	}
}

// A write's temp file has a name nobody can predict (a process sharing the
// volume cannot plant anything where initbox will create), and a killed
// run's leftovers are removed by the next write.
func TestTempNamesAreUnpredictable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	a, err := Begin(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Begin(path, Options{}) // removes a's file as a leftover
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	if a.File.Name() == b.File.Name() || !strings.HasPrefix(b.File.Name(), TempName(path)+".") {
		t.Fatalf("temp names %q and %q", a.File.Name(), b.File.Name())
	}
	if _, err := os.Lstat(a.File.Name()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leftover %s is still there: %v", a.File.Name(), err)
	}
	a.File.Close()
}
