package render_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/initbox/initbox/internal/app"
)

// The golden tests: each testdata/*.txtar holds a command line (args, run in
// a directory holding the archive's other files), optional environment
// (env), and either the expected files (want/…, want/stdout) or a fragment
// of the expected error (error) with its exit code (exit).
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txtar")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var args, wantErr, wantExit string
			want := map[string]string{}
			for _, af := range ar.Files {
				switch {
				case af.Name == "args":
					args = strings.TrimSpace(string(af.Data))
				case af.Name == "env":
					for _, kv := range strings.Split(strings.TrimSpace(string(af.Data)), "\n") {
						k, v, _ := strings.Cut(kv, "=")
						t.Setenv(k, v)
					}
				case af.Name == "error":
					wantErr = strings.TrimSpace(string(af.Data))
				case af.Name == "exit":
					wantExit = strings.TrimSpace(string(af.Data))
				case strings.HasPrefix(af.Name, "want/"):
					want[strings.TrimPrefix(af.Name, "want/")] = string(af.Data)
				default:
					p := filepath.Join(dir, af.Name)
					os.MkdirAll(filepath.Dir(p), 0o755)
					if err := os.WriteFile(p, af.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			t.Chdir(dir)
			words := strings.Fields(args)
			var stdout, stderr bytes.Buffer
			code := app.Main(context.Background(), append([]string{"initbox", "render"}, words...), strings.NewReader(""), &stdout, &stderr)
			if wantErr != "" {
				if wantExit == "" {
					wantExit = "1"
				}
				if strconv.Itoa(code) != wantExit {
					t.Errorf("exit %d, want %s; stderr:\n%s", code, wantExit, stderr.String())
				}
				if !strings.Contains(stderr.String(), wantErr) {
					t.Errorf("stderr lacks %q:\n%s", wantErr, stderr.String())
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr.String())
			}
			var names []string
			for name, w := range want {
				names = append(names, name)
				var got []byte
				if name == "stdout" {
					got = stdout.Bytes()
				} else if got, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if string(got) != w {
					t.Errorf("%s:\n--- got\n%s\n--- want\n%s", name, got, w)
				}
			}
			// A directory output holds exactly the wanted files.
			if fi, err := os.Stat(filepath.Join(dir, "out")); err == nil && fi.IsDir() {
				var have []string
				filepath.WalkDir(filepath.Join(dir, "out"), func(p string, d os.DirEntry, err error) error {
					if err != nil {
						return err
					}
					if strings.HasPrefix(d.Name(), "..") {
						if d.IsDir() {
							return filepath.SkipDir
						}
						return nil
					}
					if fi, err := os.Stat(p); err == nil && fi.IsDir() && d.Type()&os.ModeSymlink != 0 {
						filepath.WalkDir(p+"/", func(q string, e os.DirEntry, err error) error {
							if err == nil && e.Type().IsRegular() {
								r, _ := filepath.Rel(dir, q)
								have = append(have, r)
							}
							return nil
						})
					} else if err == nil && !fi.IsDir() {
						r, _ := filepath.Rel(dir, p)
						have = append(have, r)
					}
					return nil
				})
				var wantOut []string
				for _, n := range names {
					if strings.HasPrefix(n, "out/") {
						wantOut = append(wantOut, n)
					}
				}
				slices.Sort(have)
				slices.Sort(wantOut)
				if !slices.Equal(have, wantOut) {
					t.Errorf("out holds %q, want %q", have, wantOut)
				}
			}
		})
	}
}
