package publish

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// tree builds a directory from lines: "d/" makes a directory, "l>target" a
// link, anything else a file. Parents are made as needed.
func tree(t testing.TB, dir string, spec []string) {
	t.Helper()
	for _, line := range spec {
		name, target, isLink := strings.Cut(line, ">")
		p := filepath.Join(dir, strings.TrimSuffix(name, "/"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case isLink:
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(name, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec []string
		link string
		want string // "" = leads out
	}{
		{"plain", []string{"a/f", "l>a/f"}, "l", "a/f"},
		{"up and down", []string{"a/f", "b/", "b/l>../a/f"}, "b/l", "a/f"},
		{"to the root", []string{"a/", "a/l>.."}, "a/l", "."},
		{"chain inside", []string{"f", "a>b", "b>f"}, "a", "f"},
		{"dangling inside", []string{"l>missing/x"}, "l", "missing/x"},
		{"absolute", []string{"l>/etc"}, "l", ""},
		{"lexically out", []string{"a/", "a/l>../../etc"}, "a/l", ""},
		// The chain: d/l -> .. makes every d/l/ hop cost nothing in
		// real depth, so a target that looks deep enough lexically escapes.
		{"through a link to ..", []string{"d/", "d/l>..", "x>" + strings.Repeat("d/l/", 20) + strings.Repeat("../", 20) + "etc"}, "x", ""},
		{"through a link to ..: the link listed last", []string{"x>" + strings.Repeat("d/l/", 3) + "../etc", "d/", "d/l>.."}, "x", ""},
		{"through an absolute link", []string{"d>/", "x>d/etc"}, "x", ""},
		{"a chain that leaves", []string{"a>b", "b>../x"}, "a", ""},
		{"dangling, lexically out", []string{"l>missing/../../x"}, "l", ""},
		{"through a file", []string{"f", "l>f/../../x"}, "l", ""},
		{"a loop", []string{"a>b", "b>a"}, "a", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree(t, dir, tc.spec)
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			got, err := Resolve(root, tc.link)
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("Resolve(%s) = %q, want an error", tc.link, got)
			case tc.want != "" && (err != nil || got != tc.want):
				t.Fatalf("Resolve(%s) = %q, %v; want %q", tc.link, got, err, tc.want)
			case tc.want == "" && tc.name != "a loop" && !errors.Is(err, ErrLeadsOut):
				t.Fatalf("Resolve(%s): %v, want ErrLeadsOut", tc.link, err)
			}
		})
	}
}

// Resolve agrees with the kernel: where openat2(RESOLVE_BENEATH) refuses a
// link as leaving the tree, Resolve refuses it too, and where the kernel
// resolves it, Resolve finds the same file.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"d/\nd/l>..\nx>d/l/d/l/../../etc",
		"x>d/l/d/l/../../etc\nd/\nd/l>..",
		"a/\nb>a/..\nc>b/../etc",
		"a>b\nb>c\nc>../etc",
		"a/f\nl>a/f\nm>l",
		"a/\na/b/\na/b/l>../../..\nx>a/b/l/etc",
		"l>/etc",
		"f\nl>f/..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		base := t.TempDir()
		dir := filepath.Join(base, "tree")
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(base, "etc"), []byte("outside"), 0o644) // what escapes find
		var lines, links []string
		for _, line := range strings.Split(spec, "\n") {
			name, target, isLink := strings.Cut(line, ">")
			if len(lines) == 12 || CheckName(strings.TrimSuffix(name, "/"), true) != nil || strings.Contains(line, "\x00") ||
				isLink && (target == "" || len(target) > 200 || strings.HasSuffix(name, "/")) {
				continue
			}
			lines = append(lines, line)
			if isLink {
				links = append(links, name)
			}
		}
		// A later line may not go through an earlier link or file: skip it
		// (the tree is built as an archive would be; initbox refuses those).
		built := lines[:0]
		for _, line := range lines {
			name, _, _ := strings.Cut(line, ">")
			ok := true
			for d := filepath.Dir(strings.TrimSuffix(name, "/")); d != "."; d = filepath.Dir(d) {
				if fi, err := os.Lstat(filepath.Join(dir, d)); err == nil && !fi.IsDir() {
					ok = false
				}
			}
			if _, err := os.Lstat(filepath.Join(dir, strings.TrimSuffix(name, "/"))); err == nil {
				ok = false
			}
			if ok {
				tree(t, dir, []string{line})
				built = append(built, line)
			}
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		rootFD, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(rootFD)
		for _, name := range links {
			if fi, err := os.Lstat(filepath.Join(dir, name)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				continue // not built
			}
			got, err := Resolve(root, name)
			fd, kerr := unix.Openat2(rootFD, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH})
			if kerr == nil {
				defer unix.Close(fd)
			}
			switch {
			case errors.Is(kerr, unix.ENOSYS):
				t.Skip("no openat2 on this kernel")
			case errors.Is(kerr, unix.EXDEV) && err == nil:
				t.Fatalf("tree %q: Resolve(%s) = %q, but the kernel says it leads out", built, name, got)
			case kerr == nil && err != nil:
				t.Fatalf("tree %q: Resolve(%s): %v, but the kernel resolves it inside", built, name, err)
			case kerr == nil:
				var want, have unix.Stat_t
				if unix.Fstat(fd, &want) != nil || unix.Stat(filepath.Join(dir, got), &have) != nil || want.Ino != have.Ino || want.Dev != have.Dev {
					t.Fatalf("tree %q: Resolve(%s) = %q, not the file the kernel finds", built, name, got)
				}
			}
		}
	})
}
