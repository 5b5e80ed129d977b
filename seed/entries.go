package seed

import (
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"strings"
	"sync"

	"github.com/initbox/initbox/internal/progress"
	"github.com/initbox/initbox/internal/publish"
	"github.com/initbox/initbox/seed/source"
)

// The kinds of entries, as seed/source has them.
const (
	file    = source.File
	dir     = source.Dir
	symlink = source.Symlink
)

// entry is one file, directory or link of a source (a tree or an archive),
// by its name in the source.
type entry struct {
	source.Entry
	src string // a file of a local tree, copied by the kernel (no Body)
}

// writer puts entries into a staged version: it maps names (strip,
// subdirectory), refuses what could escape or is not a plain file, enforces
// the limits, and counts.
type writer struct {
	cfg     Config
	stage   *publish.Stage
	links   map[string]bool // names of links written so far
	entries int64
	bytes   int64
	meter   *progress.Meter
	buf     []byte  // the copy buffer of streamed entries
	copies  *copies // a tree's file copies, when they run in parallel
}

// errSkip marks an entry outside the selected part of the source.
var errSkip = errors.New("skipped")

// target maps a source name to its name in the target: --strip-components,
// then --subdir; errSkip for names outside.
func (w *writer) target(name string) (string, error) {
	name = strings.TrimPrefix(name, "./")
	name = strings.TrimSuffix(name, "/")
	if name == "" || name == "." {
		return "", errSkip
	}
	if w.cfg.StripComponents > 0 {
		parts := strings.SplitN(name, "/", w.cfg.StripComponents+1)
		if len(parts) <= w.cfg.StripComponents {
			return "", errSkip
		}
		name = parts[w.cfg.StripComponents]
	}
	if sub := strings.Trim(w.cfg.Subdir, "/"); sub != "" {
		rest, ok := strings.CutPrefix(name, sub+"/")
		if !ok {
			return "", errSkip
		}
		name = rest
	}
	return name, nil
}

var _ source.Writer = (*writer)(nil)

// Scratch is a private directory of the stage, removed before the publish.
func (w *writer) Scratch() (string, error) { return w.stage.Scratch() }

// Budget is what is left under --max-bytes.
func (w *writer) Budget() int64 { return w.cfg.MaxBytes - w.bytes }

// Put writes one entry of a registered source.
func (w *writer) Put(e source.Entry) error { return w.put(entry{Entry: e}) }

// put writes one entry; an error it makes itself names the entry.
func (w *writer) put(e entry) error {
	err := w.write(e)
	var named *entryError
	if err == nil || errors.As(err, &named) {
		return err
	}
	return &entryError{name: e.Name, err: err}
}

// entryError is an error of one entry, named once.
type entryError struct {
	name string
	err  error
}

func (e *entryError) Error() string {
	if e.name == "" {
		return e.err.Error() // a queued copy's: its file is named in it
	}
	return fmt.Sprintf("entry %q: %v", publish.Clip(e.name), e.err)
}
func (e *entryError) Unwrap() error { return e.err }

// write writes one entry, unnamed.
func (w *writer) write(e entry) error {
	name, err := w.target(e.Name)
	if errors.Is(err, errSkip) {
		return nil
	}
	if err := publish.CheckName(name, true); err != nil {
		return err
	}
	// A link may point anywhere inside the tree, but nothing is written
	// through one: a file under a name whose parent is a link would land
	// wherever the link leads.
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if w.links[d] {
			return fmt.Errorf("its parent %q is a symbolic link; nothing is written through a link", d)
		}
	}
	w.meter.Done.Add(1)
	if w.entries++; w.cfg.MaxEntries > 0 && w.entries > w.cfg.MaxEntries {
		return fmt.Errorf("more than %d entries (--max-entries); raise it if the source is trusted", w.cfg.MaxEntries)
	}
	switch e.Kind {
	case dir:
		return w.stage.Mkdir(name)
	case symlink:
		if err := checkLink(name, e.Link); err != nil {
			return err
		}
		w.links[name] = true
		return w.stage.Symlink(name, e.Link)
	}
	mode := e.Mode.Perm()
	if w.cfg.Chmod != 0 {
		mode = w.cfg.Chmod
	}
	// A size the source declares is checked before a byte is read (a
	// 150 MiB blob under --max-bytes 10M is refused, not inflated).
	if e.Size > 0 && w.cfg.MaxBytes > 0 && w.bytes+e.Size > w.cfg.MaxBytes {
		return fmt.Errorf("%d bytes, and the source would expand to more than %d bytes (--max-bytes); raise it if the source is trusted",
			e.Size, w.cfg.MaxBytes)
	}
	if e.src != "" {
		// A file of a tree: its size is known, so the limit is checked up
		// front and the copy is the kernel's.
		if err := w.count(e.Size); err != nil {
			return err
		}
		if w.copies != nil {
			w.copies.do(func() error { return w.stage.CopyFile(name, mode, e.src, e.Size) })
			return copied(w.copies.failed())
		}
		return w.stage.CopyFile(name, mode, e.src, e.Size)
	}
	if w.copies != nil && e.Size >= 0 && e.Size <= smallEntry {
		// A small entry of an archive: read now (the archive is a
		// stream), created and written on a copier, like a tree's files.
		if err := w.count(e.Size); err != nil {
			return err
		}
		data := w.copies.buffer(int(e.Size))
		if _, err := io.ReadFull(e.Body, data); err != nil {
			return err
		}
		if err := w.stage.Reserve(name); err != nil {
			return err
		}
		w.copies.do(func() error { return w.stage.WriteReserved(name, mode, data) })
		return copied(w.copies.failed())
	}
	return w.stage.WriteMode(name, mode, func(out io.Writer) error {
		if w.buf == nil {
			w.buf = make([]byte, 64<<10)
		}
		// One buffer for all entries: io.Copy would allocate 32 KiB for
		// each (neither side has ReadFrom/WriteTo), 320 MB for 10,000 files.
		_, err := io.CopyBuffer(out, &limited{r: e.Body, w: w}, w.buf)
		return err
	})
}

// copied marks an error of a queued copy, which may be another entry's (the
// stage named its file), so that put does not name this entry for it.
func copied(err error) error {
	if err == nil {
		return nil
	}
	return &entryError{name: "", err: err}
}

// checkLink refuses a link target that is absolute or leads outside the
// tree from where the link is. Chains (a -> b, b -> ../..) are refused at
// the link that leaves.
func checkLink(name, target string) error {
	switch {
	case target == "":
		return errors.New("empty link target")
	case strings.ContainsRune(target, 0) || strings.ContainsRune(target, '\\'):
		return fmt.Errorf("link target %q: NUL or backslash", publish.Clip(target))
	case path.IsAbs(target):
		return fmt.Errorf("link to %q: absolute links lead out of the target", publish.Clip(target))
	}
	if to := path.Join(path.Dir(name), target); to == ".." || strings.HasPrefix(to, "../") {
		return fmt.Errorf("link to %q leads out of the target", publish.Clip(target))
	}
	return nil
}

// limited counts what an entry writes against --max-bytes: a small archive
// that expands without end (a zip bomb) stops there.
type limited struct {
	r io.Reader
	w *writer
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if cerr := l.w.count(int64(n)); cerr != nil {
		return n, cerr
	}
	return n, err
}

// count adds n bytes written and enforces --max-bytes.
func (w *writer) count(n int64) error {
	w.bytes += n
	w.meter.Bytes.Add(n)
	if w.cfg.MaxBytes > 0 && w.bytes > w.cfg.MaxBytes {
		return fmt.Errorf("the source expands to more than %d bytes (--max-bytes); raise it if the source is trusted", w.cfg.MaxBytes)
	}
	return nil
}

// smallEntry is the largest archive entry written on a copier; larger ones
// stream on the reading goroutine.
const smallEntry = 64 << 10

// parallel runs fill with w.copies set — a tree's files and an archive's
// small entries are then written on a few goroutines — and waits for the
// copies; after a failed fill, what is queued is dropped.
func (w *writer) parallel(fill func() error) error {
	// One copier more than cores: a copy also waits for the disk.
	w.copies = newCopies(runtime.GOMAXPROCS(0) + 1)
	defer func() { w.copies = nil }()
	err := fill()
	if err != nil {
		w.copies.pending = nil // the version is dropped: start no more copies
	}
	if cerr := w.copies.wait(); err == nil {
		err = cerr
	}
	return err
}

// copies runs file copies on a few goroutines while the source is read:
// creating a file is mostly kernel work (inode, directory entry, journal),
// and files in different directories do not wait for each other. Copies
// go out in batches: handing each file to another thread would cost more
// than a small file's copy. An archive's entries travel in their batch's
// arena, which comes back when the batch is done.
type copies struct {
	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
	pending []func() error
	arena   []byte      // the pending batch's bytes
	free    chan []byte // arenas of finished batches
}

const (
	copyBatch = 64
	arenaSize = 1 << 20 // at least smallEntry
)

func newCopies(n int) *copies {
	return &copies{sem: make(chan struct{}, n), free: make(chan []byte, n+1)}
}

// buffer returns n bytes of the pending batch's arena (a full arena sends
// the batch first).
func (c *copies) buffer(n int) []byte {
	if len(c.pending) == 0 && c.arena != nil {
		c.arena = c.arena[:0] // no queued copy holds a part of it
	}
	if c.arena != nil && cap(c.arena)-len(c.arena) < n {
		c.flush()
	}
	if c.arena == nil {
		select {
		case c.arena = <-c.free:
		default:
			c.arena = make([]byte, 0, arenaSize)
		}
	}
	c.arena = c.arena[:len(c.arena)+n]
	return c.arena[len(c.arena)-n:]
}

// do queues f; a full batch starts when a slot is free.
func (c *copies) do(f func() error) {
	c.pending = append(c.pending, f)
	if len(c.pending) >= copyBatch {
		c.flush()
	}
}

func (c *copies) flush() {
	if len(c.pending) == 0 {
		return
	}
	batch, arena := c.pending, c.arena
	c.pending, c.arena = nil, nil
	c.sem <- struct{}{}
	c.wg.Go(func() {
		defer func() {
			if arena != nil {
				select {
				case c.free <- arena[:0]:
				default:
				}
			}
			<-c.sem
		}()
		for _, f := range batch {
			if c.failed() != nil {
				return
			}
			if err := f(); err != nil {
				c.mu.Lock()
				if c.err == nil {
					c.err = err
				}
				c.mu.Unlock()
				return
			}
		}
	})
}

func (c *copies) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// wait runs what is queued, waits for every copy and returns the first
// error.
func (c *copies) wait() error {
	c.flush()
	c.wg.Wait()
	return c.failed()
}
