// Package publish writes a set of files into a directory all or nothing
// (docs/design.md §5), in the shape of a Kubernetes Secret or ConfigMap volume:
//
//	dir/..2026_11_25_11_30_00.123456789/   the files of one version
//	dir/..data -> ..2026_11_25_11_30_00.123456789
//	dir/NAME   -> ..data/NAME              one link per top-level name
//
// The new version is staged next to the old one (same filesystem), synced,
// and published by renaming a new ..data symlink over the old one — one
// atomic step. This works when dir is a volume's mount point, which cannot
// itself be replaced. Every file that resolves is from one version: after a
// kill before the swap, the old version is whole (the next run removes the
// abandoned staging directory); after it, the new one is. A top-level link
// for a new name is created before the swap (it dangles until then), and the
// link of a removed name is deleted after it (it dangles until then); readers
// that go through ..data never see a mix. Unchanged content is not
// republished.
//
//	err := publish.Dir(ctx, "/secrets/db", publish.Options{Mode: 0o600}, func(s *publish.Stage) error {
//		return s.WriteFile("password", pw)
//	})
package publish

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/internal/atomicfile"
)

const (
	dataLink = "..data"
	tmpLink  = "..data_tmp"
)

// Options control the published files.
type Options struct {
	// Mode of every file; 0 means 0644.
	Mode fs.FileMode
	// DirMode of the version directory and subdirectories; 0 means 0755.
	DirMode fs.FileMode
	// Owner, if set, owns every file and directory (needs root).
	Owner *atomicfile.Owner
}

func (o Options) mode() fs.FileMode {
	if o.Mode == 0 {
		return 0o644
	}
	return o.Mode.Perm()
}

func (o Options) dirMode() fs.FileMode {
	if o.DirMode == 0 {
		return 0o755
	}
	return o.DirMode.Perm()
}

// Stage is the version being built. Names are relative, "/"-separated, and
// checked with CheckName; every file is created through an os.Root, so no
// name can reach outside the version directory.
type Stage struct {
	ctx          context.Context
	root         *os.Root // the version directory
	dir          *os.Root // its parent, the target
	version      string   // the version directory's name in dir
	current      string   // the published version, "" if none
	opts         Options
	names        []string
	meta         []string   // hidden files: not linked, not counted as names
	dirPath      string     // the target directory
	mu           sync.Mutex // Create, Reuse, Write and WriteMeta may run concurrently
	claimed      map[string]bool
	dirs         map[string]bool     // directories made so far
	dirNames     []string            // directories made by Mkdir (empty ones count)
	dirFiles     map[string]*os.File // open directories of the version, for CopyFile
	links        []string            // names of the links made, resolved before the publish
	scratch      []string            // Scratch directories, removed before the publish
	linksChecked int                 // how many of them CheckLinks resolved
	umask        fs.FileMode         // the process's, when umaskOK
	umaskOK      bool
}

func (s *Stage) added(name string) {
	s.mu.Lock()
	s.names = append(s.names, name)
	s.mu.Unlock()
}

func (s *Stage) unclaim(name string) {
	s.mu.Lock()
	delete(s.claimed, name)
	s.mu.Unlock()
}

// Create makes one file of the version and returns it for writing (at any
// offset, for parallel ranged downloads). The caller closes it; Dir makes
// the whole version durable before publishing it.
// A Stage's methods are safe for concurrent use.
func (s *Stage) Create(name string) (*os.File, error) {
	if err := s.claim(name); err != nil {
		return nil, err
	}
	fd, err := s.create(name, s.opts.mode(), unix.O_RDWR)
	if err != nil {
		return nil, fmt.Errorf("name %q: %w", name, err)
	}
	s.added(name)
	return os.NewFile(uintptr(fd), s.Path(name)), nil
}

// Reuse hard-links name from the published version into this one, when it
// is there with the mode and owner asked for, and reports whether it did:
// an unchanged file costs no copy.
func (s *Stage) Reuse(name string) (bool, error) {
	if s.current == "" {
		return false, nil
	}
	if err := s.claim(name); err != nil {
		return false, err
	}
	old := path.Join(s.current, name)
	fi, err := s.dir.Lstat(old)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != s.opts.mode() || !s.ownedAsAsked(fi) {
		s.unclaim(name) // the caller writes it instead
		return false, nil
	}
	if err := s.dir.Link(old, path.Join(s.version, name)); err != nil {
		s.unclaim(name)
		return false, nil // another filesystem or a hard-link limit: download instead
	}
	s.added(name)
	return true, nil
}

// Previous returns the content of a file of the published version, for a
// caller that decides what to Reuse (a manifest).
func (s *Stage) Previous(name string) ([]byte, error) {
	if s.current == "" {
		return nil, fs.ErrNotExist
	}
	return s.dir.ReadFile(path.Join(s.current, name))
}

// WriteMeta writes a hidden file of the version: its name starts with ".."
// (no remote name can), it gets no top-level link, and it is published and
// replaced together with the version (a manifest describing it).
func (s *Stage) WriteMeta(name string, data []byte) error {
	if !strings.HasPrefix(name, "..") || strings.Contains(name, "/") || name == dataLink {
		return fmt.Errorf("meta name %q: want ..NAME", name)
	}
	if err := s.root.WriteFile(name, data, 0o644); err != nil {
		return err
	}
	s.mu.Lock()
	s.meta = append(s.meta, name)
	s.mu.Unlock()
	return nil
}

func (s *Stage) claim(name string) error {
	if err := CheckName(name, true); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.claimed[name]:
		return fmt.Errorf("name %q: given twice", name)
	case s.dirs[name]:
		return fmt.Errorf("name %q is a directory already (an earlier entry is below it); it cannot be a file or a link too", name)
	}
	if dir := path.Dir(name); dir != "." {
		if err := s.mkdirLocked(dir); err != nil {
			return fmt.Errorf("name %q: %w", name, err)
		}
	}
	s.claimed[name] = true
	return nil
}

// mkdirLocked makes dir and its parents once; s.mu is held. A parent that
// an earlier name made a file or a link is refused in words, blaming the
// name that came later.
func (s *Stage) mkdirLocked(dir string) error {
	if s.dirs[dir] {
		return nil
	}
	for d := dir; d != "."; d = path.Dir(d) {
		if s.claimed[d] {
			return fmt.Errorf("needs %q to be a directory, but an earlier entry made it a file or a link", d)
		}
	}
	if err := s.root.MkdirAll(dir, s.opts.dirMode()); err != nil {
		return err
	}
	for d := dir; d != "."; d = path.Dir(d) {
		s.dirs[d] = true
	}
	return nil
}

func (s *Stage) ownedAsAsked(fi fs.FileInfo) bool {
	o := s.opts.Owner
	if o == nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == o.UID && int(st.Gid) == o.GID
}

// WriteFile writes one file of the version with the Options' mode.
func (s *Stage) WriteFile(name string, data []byte) error {
	return s.WriteFileMode(name, data, s.opts.mode())
}

// WriteFileMode writes one file of the version with its own mode (a
// rendered template keeps its source's).
func (s *Stage) WriteFileMode(name string, data []byte, mode fs.FileMode) error {
	return s.write(name, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write streams one file of the version.
func (s *Stage) Write(name string, fill func(io.Writer) error) error {
	return s.write(name, s.opts.mode(), fill)
}

// WriteMode streams one file of the version with its own mode (a file
// copied from a tree or an archive keeps its own).
func (s *Stage) WriteMode(name string, mode fs.FileMode, fill func(io.Writer) error) error {
	return s.write(name, mode, fill)
}

// Mkdir makes a directory of the version (and its parents): an empty
// directory of a source tree is part of the tree.
func (s *Stage) Mkdir(name string) error {
	if err := CheckName(name, true); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirs[name] {
		return nil
	}
	if s.claimed[name] {
		return fmt.Errorf("name %q: a directory, but an earlier entry made it a file or a link", name)
	}
	if err := s.mkdirLocked(name); err != nil {
		return fmt.Errorf("name %q: %w", name, err)
	}
	s.dirNames = append(s.dirNames, name)
	return nil
}

// Symlink makes a link of the version. The caller checked that target
// stays inside the tree; a link never leads out of the version anyway,
// since every write goes through the version's os.Root.
func (s *Stage) Symlink(name, target string) error {
	if err := s.claim(name); err != nil {
		return err
	}
	if _, err := linkComponents(name, target); err != nil {
		return err
	}
	if err := s.root.Symlink(target, name); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err // its text holds the target, whatever its length
		}
		return fmt.Errorf("name %q: making the link: %w", name, err)
	}
	s.added(name)
	s.mu.Lock()
	s.links = append(s.links, name)
	s.mu.Unlock()
	return nil
}

// Reserve claims name for a file that WriteReserved writes later, maybe on
// another goroutine: a clash with an earlier name is reported here, in the
// caller's order, and the file's directories exist when Reserve returns
// (so a link made after it cannot be a directory the file goes through).
func (s *Stage) Reserve(name string) error { return s.claim(name) }

// WriteReserved writes data as the file name, reserved with Reserve.
func (s *Stage) WriteReserved(name string, mode fs.FileMode, data []byte) error {
	return s.writeClaimed(name, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func (s *Stage) write(name string, mode fs.FileMode, fill func(io.Writer) error) error {
	if err := s.claim(name); err != nil {
		return err
	}
	return s.writeClaimed(name, mode, fill)
}

func (s *Stage) writeClaimed(name string, mode fs.FileMode, fill func(io.Writer) error) error {
	fd, err := s.create(name, mode, unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("name %q: %w", name, err)
	}
	if err := fill(fdWriter(fd)); err != nil {
		unix.Close(fd)
		return fmt.Errorf("name %q: %w", name, err)
	}
	if err := unix.Close(fd); err != nil { // made durable with the whole version, before the swap
		return fmt.Errorf("name %q: %w", name, err)
	}
	if err := s.ctx.Err(); err != nil {
		return context.Cause(s.ctx)
	}
	s.added(name)
	return nil
}

// create makes a claimed file of the version, relative to its directory's
// open descriptor, with its mode (a chmod only where the umask changed it)
// and owner, and returns its plain descriptor: no *os.File, no poller
// registration, no path walk per file.
func (s *Stage) create(name string, mode fs.FileMode, access int) (int, error) {
	dfd, err := s.dirFD(path.Dir(name))
	if err != nil {
		return -1, err
	}
	fd, err := unix.Openat(dfd, path.Base(name), access|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil {
		return -1, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	if !s.umaskOK || mode.Perm()&^s.umask != mode.Perm() {
		if err := unix.Fchmod(fd, uint32(mode.Perm())); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if o := s.opts.Owner; o != nil {
		if err := unix.Fchown(fd, o.UID, o.GID); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setting owner %d:%d: %w", o.UID, o.GID, err)
		}
	}
	return fd, nil
}

// CopyFile makes one file of the version with the content of the regular
// file src (size bytes, copied by the kernel: copy_file_range, or
// read/write across filesystems). It is the small-file fast path of a tree
// copy: plain descriptors rather than *os.File (no poller registration),
// the file created relative to its directory's open descriptor (no path
// walk per file), and its mode set only when the umask would change it.
func (s *Stage) CopyFile(name string, mode fs.FileMode, src string, size int64) error {
	if err := s.claim(name); err != nil {
		return err
	}
	sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: src, Err: err}
	}
	defer unix.Close(sfd)
	fd, err := s.create(name, mode, unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("name %q: %w", name, err)
	}
	if err := copyInto(fd, sfd, size); err != nil {
		unix.Close(fd)
		return fmt.Errorf("name %q: %w", name, err)
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("name %q: %w", name, err)
	}
	if err := s.ctx.Err(); err != nil {
		return context.Cause(s.ctx)
	}
	s.added(name)
	return nil
}

// dirFD returns an open descriptor of a directory of the version (made by
// claim), opened once through the version's os.Root.
func (s *Stage) dirFD(dir string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.dirFiles[dir]; ok {
		return int(f.Fd()), nil
	}
	f, err := s.root.Open(dir)
	if err != nil {
		return -1, err
	}
	s.dirFiles[dir] = f
	return int(f.Fd()), nil
}

func (s *Stage) closeDirs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, f := range s.dirFiles {
		f.Close()
		delete(s.dirFiles, d)
	}
}

// processUmask reads the umask from /proc/self/status (reading it with
// umask(2) would mean setting it, a race with any file created meanwhile);
// ok is false where /proc does not say, and then every file gets a chmod.
func processUmask() (mask fs.FileMode, ok bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, found := strings.CutPrefix(line, "Umask:"); found {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return fs.FileMode(m), err == nil
		}
	}
	return 0, false
}

// Path is where a file of the version is while it is staged, for a check
// that reads it (a validator such as nginx -t) before it is published.
func (s *Stage) Path(name string) string {
	return filepath.Join(s.dirPath, s.version, filepath.FromSlash(name))
}

// Scratch makes a private directory inside the staged version, for what a
// fill needs on disk and must not publish (a zip download, a git clone's
// objects): its name is unpredictable, it is made with Mkdir (mode 0700)
// below the version's os.Root, and it is removed, with everything in it,
// before the version is checked and synced. It counts against the volume's
// space like the tree itself.
func (s *Stage) Scratch() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := "..initbox-scratch-" + hex.EncodeToString(b[:])
	if err := s.root.Mkdir(name, 0o700); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.scratch = append(s.scratch, name)
	s.mu.Unlock()
	return s.Path(name), nil
}

func (s *Stage) removeScratch() error {
	for _, name := range s.scratch {
		if err := s.root.RemoveAll(name); err != nil {
			return err
		}
	}
	s.scratch = nil
	return nil
}

// testHook, when set by a test, runs at each named step of Dir.
var testHook func(step string)

func hook(step string) {
	if testHook != nil {
		testHook(step)
	}
}

// Dir builds a new version of dir with fill and publishes it. It reports
// whether anything changed. dir is created if missing.
func Dir(ctx context.Context, dir string, opts Options, fill func(*Stage) error) (changed bool, err error) {
	if err := makeDirs(dir, opts); err != nil {
		return false, fmt.Errorf("publishing to %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return false, fmt.Errorf("publishing to %s: %w", dir, err)
	}
	defer root.Close()
	current, _ := root.Readlink(dataLink)
	existing, err := cleanLeftovers(root, current)
	if err != nil {
		return false, fmt.Errorf("publishing to %s: cleaning an earlier run: %w", dir, err)
	}

	version := ".." + time.Now().UTC().Format("2006_01_02_15_04_05.000000000")
	if err := root.Mkdir(version, opts.dirMode()); err != nil {
		return false, fmt.Errorf("publishing to %s: %w", dir, err)
	}
	published := false
	defer func() {
		if !published {
			root.RemoveAll(version)
		}
	}()
	st, err := stage(ctx, root, dir, version, current, opts, fill)
	if err != nil {
		return false, err
	}
	hook("staged")

	tops := topNames(append(slices.Clone(st.names), st.dirNames...))
	if current != "" && sameTree(root, current, version, append(slices.Clone(st.names), st.meta...)) {
		// Nothing to publish (the staging directory goes with the defer),
		// but a killed earlier run may have left links of names that never
		// got published.
		_, err := removeStale(root, tops)
		return false, err
	}
	missing, err := newNames(root, dir, existing, tops)
	if err != nil {
		return false, err
	}
	if ctx.Err() != nil {
		return false, context.Cause(ctx)
	}
	if err := swap(root, dir, version, missing); err != nil {
		return false, err
	}
	published = true
	if err := atomicfile.SyncDir(dir); err != nil {
		return true, err
	}
	hook("swapped")
	return true, removeOld(root, dir, current, version, tops)
}

// makeDirs makes dir and the parents it lacks with the mode of the version
// directories: under umask 077 a directory made with 0755 would be 0700,
// and the application's user could not enter it.
func makeDirs(dir string, opts Options) error {
	var made []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		made = append(made, d)
	}
	if err := os.MkdirAll(dir, opts.dirMode()); err != nil {
		return err
	}
	// Not chowned: initbox still writes in them, and with only CAP_CHOWN
	// (no CAP_DAC_OVERRIDE) it could not once they are another user's. The
	// versions inside are the owner's.
	for _, d := range made {
		if err := os.Chmod(d, opts.dirMode()); err != nil {
			return err
		}
	}
	return nil
}

// stage fills the version directory and makes it durable: its
// directories' modes and owners fixed, the filesystem synced.
func stage(ctx context.Context, root *os.Root, dir, version, current string, opts Options, fill func(*Stage) error) (*Stage, error) {
	vroot, err := root.OpenRoot(version)
	if err != nil {
		return nil, err
	}
	defer vroot.Close()
	st := &Stage{ctx: ctx, root: vroot, dir: root, dirPath: dir, version: version, current: current, opts: opts,
		claimed: map[string]bool{}, dirs: map[string]bool{}, dirFiles: map[string]*os.File{}}
	st.umask, st.umaskOK = processUmask()
	stopWriteBack := writeBack(filepath.Join(dir, version), writeBackEvery)
	err = fill(st)
	stopWriteBack()
	st.closeDirs()
	if rerr := st.removeScratch(); err == nil {
		err = rerr
	}
	if err == nil {
		err = st.CheckLinks() // the whole tree is there: links made later count too
	}
	if err != nil {
		return nil, err
	}
	if err := fixDirs(vroot, opts, st); err != nil {
		return nil, fmt.Errorf("publishing to %s: %w", dir, err)
	}
	if err := syncTree(filepath.Join(dir, version)); err != nil {
		return nil, fmt.Errorf("publishing to %s: %w", dir, err)
	}
	return st, nil
}

// newNames returns the top-level names that have no link yet, refusing to
// replace what is not ours: a name that exists and is not a link into
// ..data. (existing is the listing read at the start: only this run
// writes here.)
func newNames(root *os.Root, dir string, existing map[string]fs.FileMode, tops []string) ([]string, error) {
	var missing []string
	for _, n := range tops {
		typ, ok := existing[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		if t, _ := root.Readlink(n); typ&fs.ModeSymlink == 0 || t != path.Join(dataLink, n) {
			return nil, fmt.Errorf("publishing to %s: %s exists and was not published by initbox; remove it or choose another directory", dir, n)
		}
	}
	return missing, nil
}

// swap links the new names (dangling until the swap), then makes the one
// atomic step: ..data now names the version.
func swap(root *os.Root, dir, version string, missing []string) error {
	for _, n := range missing {
		if err := root.Symlink(path.Join(dataLink, n), n); err != nil {
			return fmt.Errorf("publishing to %s: %w", dir, err)
		}
	}
	hook("linked")
	root.Remove(tmpLink)
	if err := root.Symlink(version, tmpLink); err != nil {
		return fmt.Errorf("publishing to %s: %w", dir, err)
	}
	if err := root.Rename(tmpLink, dataLink); err != nil {
		return fmt.Errorf("publishing to %s: %w", dir, err)
	}
	return nil
}

// removeOld removes, after the swap, the links of names that are gone and
// the old version.
func removeOld(root *os.Root, dir, current, version string, tops []string) error {
	removed, err := removeStale(root, tops)
	if err != nil {
		return fmt.Errorf("publishing to %s: %w", dir, err)
	}
	if current != "" && current != version {
		if err := root.RemoveAll(current); err != nil {
			return fmt.Errorf("publishing to %s: removing the old version: %w", dir, err)
		}
		removed++
	}
	if removed == 0 {
		return nil // the directory is as the sync after the swap left it
	}
	return atomicfile.SyncDir(dir)
}

// topNames returns the first path element of each name, once each.
func topNames(names []string) []string {
	var tops []string
	seen := map[string]bool{}
	for _, n := range names {
		top, _, _ := strings.Cut(n, "/")
		if !seen[top] {
			seen[top] = true
			tops = append(tops, top)
		}
	}
	slices.Sort(tops)
	return tops
}

// cleanLeftovers removes version directories other than the current one
// and a stray ..data_tmp: what a killed run leaves behind. It returns the
// names that remain, with their types.
func cleanLeftovers(root *os.Root, current string) (map[string]fs.FileMode, error) {
	entries, err := readDir(root)
	if err != nil {
		return nil, err
	}
	names := make(map[string]fs.FileMode, len(entries))
	for _, e := range entries {
		n := e.Name()
		if n == tmpLink || (strings.HasPrefix(n, "..") && n != dataLink && n != current && e.IsDir()) {
			if err := root.RemoveAll(n); err != nil {
				return nil, err
			}
			continue
		}
		names[n] = e.Type()
	}
	return names, nil
}

func readDir(root *os.Root) ([]fs.DirEntry, error) {
	f, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// removeStale deletes top-level links into ..data whose name is gone, and
// says how many it deleted.
func removeStale(root *os.Root, tops []string) (removed int, err error) {
	entries, err := readDir(root)
	if err != nil {
		return 0, err
	}
	keep := make(map[string]bool, len(tops))
	for _, n := range tops {
		keep[n] = true
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "..") || keep[n] || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if t, _ := root.Readlink(n); t == path.Join(dataLink, n) {
			if err := root.Remove(n); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}

// sameTree reports whether version holds exactly the files of current, with
// the same content and modes.
func sameTree(root *os.Root, current, version string, names []string) bool {
	var have []string
	err := fs.WalkDir(root.FS(), current, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			have = append(have, strings.TrimPrefix(p, current+"/"))
		}
		return nil
	})
	if err != nil || len(have) != len(names) {
		return false
	}
	for _, n := range names {
		a, errA := root.Lstat(path.Join(current, n))
		b, errB := root.Lstat(path.Join(version, n))
		if errA != nil || errB != nil || a.Mode() != b.Mode() || a.Size() != b.Size() {
			return false
		}
		if os.SameFile(a, b) {
			continue // reused by a hard link
		}
		x, _ := root.ReadFile(path.Join(current, n))
		y, _ := root.ReadFile(path.Join(version, n))
		if !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// fixDirs gives the directories of a staged version their exact mode
// (Mkdir is filtered by the umask) and owner — after they are filled: root
// with only CAP_CHOWN (the restricted profile plus one capability) may not
// write into a directory it gave away.
func fixDirs(vroot *os.Root, opts Options, st *Stage) error {
	dirs := append([]string{"."}, slices.Sorted(maps.Keys(st.dirs))...)
	chmod := !st.umaskOK || opts.dirMode()&^st.umask != opts.dirMode()
	for _, d := range dirs {
		if chmod {
			if err := vroot.Chmod(d, opts.dirMode()); err != nil {
				return err
			}
		}
		if o := opts.Owner; o != nil {
			if err := vroot.Lchown(d, o.UID, o.GID); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeBackEvery is how often writeBack syncs while a version is filled (a
// variable for tests).
var writeBackEvery = 100 * time.Millisecond

// writeBack syncs the filesystem that holds dir every interval until stop
// is called (stop waits for a sync in flight): the disk writes what is
// staged so far while fill goes on making files on the other core, and the
// sync before the swap (syncTree) finds little left to do. A fill shorter
// than interval never syncs here. The first failing sync (no syncfs on
// this OS, a seccomp profile) ends it: syncTree has its own fallback.
func writeBack(dir string, interval time.Duration) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if syncFS(dir) != nil {
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// syncTree makes a staged version durable before the swap publishes it:
// one syncfs(2) of the filesystem that holds it (a thousand small files cost
// one call instead of a thousand fsyncs, each of which forces a journal
// commit), or, where syncfs is not available (another OS, a seccomp profile
// that refuses it), an fsync of every file and directory.
func syncTree(dir string) error {
	if err := syncFS(dir); err == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return atomicfile.SyncDir(p)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}
