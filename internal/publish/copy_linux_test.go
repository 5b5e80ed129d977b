package publish

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// CopyFile: content and mode exact whatever the umask, by copy_file_range
// or (where the kernel refuses it) read/write; a source that is not what
// its size said, an existing name, and a bad name fail.
func TestCopyFile(t *testing.T) {
	src := t.TempDir()
	small := bytes.Repeat([]byte("0123456789abcdef"), 256)
	big := bytes.Repeat([]byte("x"), 3<<20)
	for n, b := range map[string][]byte{"small": small, "big": big, "empty": nil} {
		if err := os.WriteFile(filepath.Join(src, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		umask    int
		refuseCF bool
	}{{"copy_file_range", 0o022, false}, {"umask 077", 0o077, false}, {"read/write fallback", 0o022, true}} {
		t.Run(tc.name, func(t *testing.T) {
			old := syscall.Umask(tc.umask)
			defer syscall.Umask(old)
			if tc.refuseCF {
				copyFileRange = func(int, *int64, int, *int64, int, int) (int, error) { return 0, unix.EXDEV }
				defer func() { copyFileRange = unix.CopyFileRange }()
			}
			dir := t.TempDir()
			_, err := Dir(t.Context(), dir, Options{}, func(s *Stage) error {
				for _, f := range []struct {
					name, src string
					mode      os.FileMode
					size      int
				}{{"a/small", "small", 0o644, len(small)}, {"a/b/big", "big", 0o666, len(big)}, {"empty", "empty", 0o400, 0}, {"a/x", "small", 0o755, len(small)}} {
					if err := s.CopyFile(f.name, f.mode, filepath.Join(src, f.src), int64(f.size)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]struct {
				data []byte
				mode os.FileMode
			}{"a/small": {small, 0o644}, "a/b/big": {big, 0o666}, "empty": {nil, 0o400}, "a/x": {small, 0o755}} {
				p := filepath.Join(dir, name)
				b, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(b, want.data) {
					t.Errorf("%s: %d bytes, %v; want %d", name, len(b), err, len(want.data))
				}
				if fi, _ := os.Stat(p); fi.Mode().Perm() != want.mode {
					t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want.mode)
				}
			}
		})
	}

	for _, tc := range []struct {
		name, want string
		fill       func(s *Stage) error
	}{
		{"source shorter than its size", "changed size", func(s *Stage) error {
			return s.CopyFile("f", 0o644, filepath.Join(src, "small"), int64(len(small)+1))
		}},
		{"source missing", "no such file", func(s *Stage) error { return s.CopyFile("f", 0o644, filepath.Join(src, "nope"), 1) }},
		{"source is a link", "too many levels of symbolic links", func(s *Stage) error {
			l := filepath.Join(t.TempDir(), "l")
			os.Symlink(filepath.Join(src, "small"), l)
			return s.CopyFile("f", 0o644, l, int64(len(small)))
		}},
		{"name given twice", "given twice", func(s *Stage) error {
			s.CopyFile("f", 0o644, filepath.Join(src, "small"), int64(len(small)))
			return s.CopyFile("f", 0o644, filepath.Join(src, "small"), int64(len(small)))
		}},
		{"bad name", `".."`, func(s *Stage) error { return s.CopyFile("../f", 0o644, filepath.Join(src, "small"), int64(len(small))) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Dir(t.Context(), dir, Options{}, tc.fill)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left %d entries in the target", len(entries))
			}
		})
	}
}

func TestProcessUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	if m, ok := processUmask(); !ok || m != 0o027 {
		t.Fatalf("processUmask = %o, %v; want 027", m, ok)
	}
}
