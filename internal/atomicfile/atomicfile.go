// Package atomicfile writes files so that a reader, or a process killed at any
// moment, sees either the old complete file or the new complete one
// (docs/design.md §5).
//
// The temp file is created next to the target with O_EXCL and its final mode
// from the first byte (a secret is never readable by others, not even for a
// moment), written, fsynced, renamed over the target, and the directory is
// fsynced so that the rename survives a crash. Unchanged content is not
// rewritten, so a re-run does not touch mtimes or wake file watchers.
//
//	changed, err := atomicfile.WriteFile(ctx, "/vol/app.json", data, atomicfile.Options{Mode: 0o600})
package atomicfile

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DefaultMode is used when Options.Mode is zero.
const DefaultMode fs.FileMode = 0o644

// Options control the written file.
type Options struct {
	// Mode is the file's permission bits; 0 means DefaultMode.
	Mode fs.FileMode
	// Owner, if set, is applied to the file before it becomes visible.
	// Changing the owner needs root (CAP_CHOWN).
	Owner *Owner
}

// Owner is a numeric uid:gid pair.
type Owner struct{ UID, GID int }

func (o Options) mode() fs.FileMode {
	if o.Mode == 0 {
		return DefaultMode
	}
	return o.Mode.Perm()
}

// tempSuffix marks our temp files. It is exported through TempName for
// callers and tests that need to recognise leftovers.
const tempSuffix = ".initbox-tmp"

// TempName returns the prefix of the temp files used while writing path: a
// write's own temp file is the prefix plus a random suffix (a name nobody
// sharing the volume can plant something at), and the next write to the
// same path removes what a run killed before its rename left.
func TempName(path string) string {
	dir, base := filepath.Split(path)
	name := "." + base + tempSuffix
	if len(name) > 255 { // NAME_MAX on every filesystem we care about
		sum := sha256.Sum256([]byte(base))
		name = ".initbox-" + hex.EncodeToString(sum[:12]) + tempSuffix
	}
	return filepath.Join(dir, name)
}

// testHookBeforeRename, when set by a test, runs after the temp file is
// complete and synced and before it is renamed into place.
var testHookBeforeRename func(tmp string)

// WriteFile writes data to path atomically and reports whether anything
// changed on disk. If path already holds data with the same mode (and owner,
// when one is requested), nothing is written.
func WriteFile(ctx context.Context, path string, data []byte, opts Options) (changed bool, err error) {
	same, err := sameContent(path, int64(len(data)), func(r io.Reader) (bool, error) {
		existing, err := io.ReadAll(r)
		return bytes.Equal(existing, data), err
	})
	if err != nil {
		return false, err
	}
	if same {
		return fixMetadata(path, opts)
	}
	return true, write(ctx, path, opts, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write streams the content produced by fill into path atomically. It always
// publishes the new file; use WriteFile when content is small enough to
// compare first. If ctx ends before the rename, the temp file is removed and
// the old file is left as it was.
func Write(ctx context.Context, path string, opts Options, fill func(io.Writer) error) error {
	return write(ctx, path, opts, fill)
}

func write(ctx context.Context, path string, opts Options, fill func(io.Writer) error) (err error) {
	t, err := Begin(path, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			t.Abort()
		}
	}()
	if err := fill(&ctxWriter{ctx: ctx, w: t.File}); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return t.Commit(ctx)
}

// Temp is a file being written for an atomic replace: write to File (at
// any offset), then Commit, or Abort.
type Temp struct {
	File *os.File
	path string
}

// Begin creates the temp file for path, with its final mode and owner.
func Begin(path string, opts Options) (*Temp, error) {
	if err := checkTarget(path); err != nil {
		return nil, err
	}
	tmp := TempName(path)
	f, err := createExclusive(tmp, opts.mode())
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	t := &Temp{File: f, path: path}
	// The mode given to open is filtered by the umask; set it exactly. The
	// umask only removes bits, so the file was never more open than this.
	if err := f.Chmod(opts.mode()); err != nil {
		t.Abort()
		return nil, fmt.Errorf("writing %s: setting mode: %w", path, err)
	}
	if opts.Owner != nil {
		if err := f.Chown(opts.Owner.UID, opts.Owner.GID); err != nil {
			t.Abort()
			return nil, fmt.Errorf("writing %s: setting owner %d:%d: %w", path, opts.Owner.UID, opts.Owner.GID, err)
		}
	}
	return t, nil
}

// Commit syncs the temp file and renames it over the target, then syncs
// the directory. If ctx has ended, the temp file is removed instead.
func (t *Temp) Commit(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			t.Abort()
		}
	}()
	if err := t.File.Sync(); err != nil {
		return fmt.Errorf("writing %s: syncing: %w", t.path, err)
	}
	if err := t.File.Close(); err != nil {
		return fmt.Errorf("writing %s: closing: %w", t.path, err)
	}
	if testHookBeforeRename != nil {
		testHookBeforeRename(t.File.Name())
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err := os.Rename(t.File.Name(), t.path); err != nil {
		return fmt.Errorf("writing %s: %w", t.path, err)
	}
	return SyncDir(filepath.Dir(t.path))
}

// Abort removes the temp file; the target is left as it was.
func (t *Temp) Abort() {
	t.File.Close()
	os.Remove(t.File.Name())
}

// createExclusive removes the leftovers of runs killed before their rename
// (names starting with prefix; unlinked, never followed), then creates a
// temp file at prefix plus a random suffix with O_EXCL|O_NOFOLLOW.
func createExclusive(prefix string, mode fs.FileMode) (*os.File, error) {
	if old, _ := filepath.Glob(globEscape(prefix) + "*"); len(old) > 0 {
		for _, p := range old {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("removing leftover temp file: %w", err)
			}
		}
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	// Read-write: a caller writing parts at offsets may read them back to hash.
	const flags = os.O_RDWR | os.O_CREATE | os.O_EXCL | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	f, err := os.OpenFile(prefix+"."+hex.EncodeToString(b[:]), flags, mode)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the directory %s does not exist: create it, or mount a volume there", filepath.Dir(prefix))
	}
	if err != nil {
		return nil, fmt.Errorf("creating temp file: %w", err)
	}
	return f, nil
}

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkTarget refuses a path that exists and is not a regular file: renaming
// over a directory fails late, and replacing a symlink or device silently is
// never what the user meant.
func checkTarget(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	switch {
	case fi.IsDir():
		return fmt.Errorf("writing %s: it is a directory; give a file path inside it", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("writing %s: it exists and is not a regular file (%s); remove it or choose another path", path, fi.Mode().Type())
	}
	return nil
}

// sameContent reports whether path is a regular file of size n whose content
// eq accepts. A missing file is not the same.
func sameContent(path string, n int64, eq func(io.Reader) (bool, error)) (bool, error) {
	if err := checkTarget(path); err != nil {
		return false, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		// Unreadable (e.g. mode 0200): fall back to rewriting it.
		return false, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() != n {
		return false, nil
	}
	same, err := eq(f)
	if err != nil {
		return false, nil
	}
	return same, nil
}

// fixMetadata brings an unchanged file's mode and owner to what opts asks,
// without rewriting it, and reports whether it had to.
func fixMetadata(path string, opts Options) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	changed := false
	if opts.Owner != nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != opts.Owner.UID || int(st.Gid) != opts.Owner.GID) {
			if err := os.Lchown(path, opts.Owner.UID, opts.Owner.GID); err != nil {
				return false, fmt.Errorf("writing %s: setting owner: %w", path, err)
			}
			changed = true
		}
	}
	if fi.Mode().Perm() != opts.mode() {
		if err := os.Chmod(path, opts.mode()); err != nil {
			return false, fmt.Errorf("writing %s: setting mode: %w", path, err)
		}
		changed = true
	}
	return changed, nil
}

// SyncDir fsyncs a directory so that renames and creations in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// ctxWriter stops a long write when the context ends (SIGTERM), so the temp
// file can be removed promptly.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.w.Write(p)
}

// ParseOwner reads --owner: numeric "uid:gid".
func ParseOwner(s string) (*Owner, error) {
	u, g, ok := strings.Cut(s, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return nil, fmt.Errorf("--owner %q: want numeric uid:gid, e.g. 1000:1000", s)
	}
	return &Owner{UID: uid, GID: gid}, nil
}
