package seed

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/initbox/initbox/internal/publish"
	"github.com/initbox/initbox/seed/source"
)

// Formats of archives.
const (
	Tar    = "tar"
	TarGz  = "tar.gz"
	TarZst = "tar.zst"
	Zip    = "zip"
)

// formatOf tells an archive's format from its name.
func formatOf(name string) (string, error) {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return TarGz, nil
	case strings.HasSuffix(n, ".tar.zst"), strings.HasSuffix(n, ".tzst"):
		return TarZst, nil
	case strings.HasSuffix(n, ".tar"):
		return Tar, nil
	case strings.HasSuffix(n, ".zip"):
		return Zip, nil
	}
	return "", fmt.Errorf("%s: cannot tell the archive format from the name; give --format tar|tar.gz|tar.zst|zip", name)
}

// extractTar reads a tar stream (compressed or not) into w.
func extractTar(r io.Reader, format string, w *writer) error {
	switch format {
	case TarGz:
		// klauspost's decoder reads a byte at a time from a ByteReader: a
		// large buffer keeps that off the read-ahead's channel.
		gz, err := gzip.NewReader(bufio.NewReaderSize(r, 256<<10))
		if err != nil {
			return fmt.Errorf("reading the archive as tar.gz: %w", cutShort(err))
		}
		// Decompress on another core while this one creates files, as tar
		// does with its gzip child. The decoder is closed by the goroutine
		// that reads it, when it ends: never while it decodes.
		ra := newReadAhead(gz, func() { gz.Close() })
		defer ra.Close()
		r = ra
	case TarZst:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("not zstd: %w", err)
		}
		ra := newReadAhead(zr, zr.Close)
		defer ra.Close()
		r = ra
	}
	tr := tar.NewReader(r)
	if err := w.parallel(func() error { return readTar(tr, w) }); err != nil {
		return err
	}
	// The tar reader stops at the end-of-archive blocks; what follows is
	// read too, so that gzip's CRC-32 and size (zstd's checksum) are
	// checked: an archive that lost its last bytes is refused. What it
	// holds counts against --max-bytes like the entries: a small archive
	// with gigabytes of zeros after the tar's end stops there.
	if _, err := io.Copy(io.Discard, &limited{r: r, w: w}); err != nil {
		return fmt.Errorf("reading the archive: %w", cutShort(err))
	}
	return nil
}

func readTar(tr *tar.Reader, w *writer) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", cutShort(err))
		}
		e := entry{Entry: source.Entry{Name: h.Name, Mode: fs.FileMode(h.Mode).Perm(), Body: tr, Size: h.Size}}
		switch h.Typeflag {
		case tar.TypeReg:
			e.Kind = file
		case tar.TypeDir:
			e.Kind = dir
		case tar.TypeSymlink:
			e.Kind, e.Link = symlink, h.Linkname
		case tar.TypeLink:
			return fmt.Errorf("entry %q: a hard link (to %q); refused", publish.Clip(h.Name), publish.Clip(h.Linkname))
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return fmt.Errorf("entry %q: a device or FIFO; refused", publish.Clip(h.Name))
		case tar.TypeXGlobalHeader:
			continue
		default:
			return fmt.Errorf("entry %q: unsupported type %q; refused", publish.Clip(h.Name), h.Typeflag)
		}
		if err := w.put(e); err != nil {
			return cutShort(err)
		}
	}
}

// cutShort says what an archive that ends early means (a body cut short
// fails in put, a header in Next).
func cutShort(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("it ends in the middle (cut short? check the file or the download): %w", err)
	}
	return err
}

// extractZip reads a zip file (it needs random access) into w.
func extractZip(f *os.File, w *writer) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return fmt.Errorf("not a zip archive: %w", err)
	}
	for _, zf := range zr.File {
		mode := zf.Mode()
		size := int64(-1)
		if zf.UncompressedSize64 <= 1<<62 {
			size = int64(zf.UncompressedSize64) // what the header declares; reads are counted too
		}
		e := entry{Entry: source.Entry{Name: zf.Name, Mode: mode.Perm(), Size: size}}
		switch {
		case mode.IsDir():
			e.Kind = dir
		case mode&fs.ModeSymlink != 0:
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("entry %q: %w", publish.Clip(zf.Name), err)
			}
			b, err := io.ReadAll(io.LimitReader(rc, publish.MaxLinkTarget+1)) // linkComponents refuses one longer
			rc.Close()
			if err != nil {
				return fmt.Errorf("entry %q: %w", publish.Clip(zf.Name), err)
			}
			e.Kind, e.Link = symlink, string(b)
		case mode.IsRegular():
			e.Kind = file
		default:
			return fmt.Errorf("entry %q: not a file, directory or link (%v); refused", publish.Clip(zf.Name), mode.Type())
		}
		if e.Kind == file {
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("entry %q: %w", publish.Clip(zf.Name), err)
			}
			e.Body = rc
			err = w.put(e)
			rc.Close()
			if err != nil {
				return err
			}
			continue
		}
		if err := w.put(e); err != nil {
			return err
		}
	}
	return nil
}

// copyTree reads a directory into w: files, directories and links inside
// the tree. It returns the tree's digest (as treeDigest computes it), from
// the same walk.
func copyTree(root string, w *writer) (string, error) {
	var t treeLines
	err := w.parallel(func() error {
		return walkTree(root, func(e entry, info fs.FileInfo) error {
			t.add(e.Name, info, e.Link)
			if e.Name == "." {
				return nil
			}
			return w.put(e)
		})
	})
	if err != nil {
		return "", err
	}
	return t.digest(), nil
}

// treeDigest identifies a directory tree by its names, kinds, modes, sizes,
// modification times and link targets (not its content: reading it all
// would cost what copying does). copyTree computes the same digest on its
// own walk; this walk is for deciding whether to copy at all.
func treeDigest(root string) (string, error) {
	var t treeLines
	err := walkTree(root, func(e entry, info fs.FileInfo) error {
		t.add(e.Name, info, e.Link)
		return nil
	})
	if err != nil {
		return "", err
	}
	return t.digest(), nil
}

// walkTree calls visit for every entry of a directory tree ("." is the
// root), with its Lstat; anything but files, directories and links is
// refused.
func walkTree(root string, visit func(entry, fs.FileInfo) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		e := entry{Entry: source.Entry{Name: filepath.ToSlash(rel), Mode: info.Mode().Perm(), Size: info.Size()}}
		switch {
		case d.IsDir():
			e.Kind = dir
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
			e.Kind = symlink
		case info.Mode().IsRegular():
			e.Kind, e.src = file, p
		default:
			return fmt.Errorf("%s: not a file, directory or link (%v); refused", p, info.Mode().Type())
		}
		return visit(e, info)
	})
}

// treeLines are a tree digest's lines, one per entry ("." is the root).
type treeLines []string

func (t *treeLines) add(rel string, fi fs.FileInfo, link string) {
	*t = append(*t, fmt.Sprintf("%q %v %d %d %q", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), link))
}

func (t treeLines) digest() string {
	slices.Sort(t)
	h := sha256.New()
	for _, l := range t {
		io.WriteString(h, l+"\n")
	}
	return "tree:" + hex.EncodeToString(h.Sum(nil))
}

// readAhead reads r on its own goroutine, a few chunks ahead of the reader.
type readAhead struct {
	chunks chan []byte // filled chunks, in order; closed after the last
	free   chan []byte // empty buffers
	done   chan struct{}
	buf    []byte // the chunk being read from, whole
	cur    []byte // its unread part
	err    error  // r's error, after the last chunk
	errc   chan error
}

const (
	readAheadChunk = 256 << 10
	readAheadDepth = 4
)

// newReadAhead reads r on a goroutine of its own; done, if not nil, runs
// on that goroutine when it stops reading (closing a decoder there cannot
// race with a read).
func newReadAhead(r io.Reader, done func()) *readAhead {
	ra := &readAhead{chunks: make(chan []byte, readAheadDepth), free: make(chan []byte, readAheadDepth+1),
		done: make(chan struct{}), errc: make(chan error, 1)}
	for range readAheadDepth + 1 {
		ra.free <- make([]byte, readAheadChunk)
	}
	go func() {
		defer close(ra.chunks)
		if done != nil {
			defer done()
		}
		for {
			var buf []byte
			select {
			case buf = <-ra.free:
			case <-ra.done:
				return
			}
			n, err := fill(r, buf)
			if n > 0 {
				select {
				case ra.chunks <- buf[:n]:
				case <-ra.done:
					return
				}
			}
			if err != nil {
				ra.errc <- err
				return
			}
		}
	}()
	return ra
}

// fill reads into buf until it is full or r fails (io.EOF included), and
// returns r's own error.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		c, ok := <-ra.chunks
		if !ok {
			if ra.err == nil {
				ra.err = <-ra.errc
			}
			return 0, ra.err
		}
		ra.buf, ra.cur = c, c
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine (the caller stopped reading early).
func (ra *readAhead) Close() {
	select {
	case <-ra.done:
	default:
		close(ra.done)
	}
}
