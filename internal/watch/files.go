package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// MaxWatchedDirs bounds the directories Files watches (a template tree).
const MaxWatchedDirs = 1024

// Files sends on wake (without blocking) when one of paths changes: a file
// written, replaced by a rename, or swapped under it as Kubernetes updates
// a ConfigMap or Secret volume (the `..data` link renamed over). A file is
// watched through its directory, so a replaced file stays watched, and so
// is one that does not exist yet (an optional values file); a directory is
// watched with its subdirectories. The watch ends with ctx.
func Files(ctx context.Context, paths []string, wake chan<- struct{}) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching files: %w", err)
	}
	dirs := map[string]bool{}  // watched directories, whole
	names := map[string]bool{} // watched files, by path
	add := func(dir string) error {
		if len(dirs) >= MaxWatchedDirs {
			return fmt.Errorf("watching %s: more than %d directories", dir, MaxWatchedDirs)
		}
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("watching %s: %w", dir, err)
		}
		return nil
	}
	for _, p := range paths {
		p = filepath.Clean(p)
		fi, err := os.Stat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.Close()
			return fmt.Errorf("watching %s: %w", p, err)
		}
		if err != nil || !fi.IsDir() {
			names[p] = true
			if d := filepath.Dir(p); !dirs[d] {
				if err := add(d); err != nil {
					w.Close()
					return err
				}
				dirs[d] = false
			}
			continue
		}
		err = filepath.WalkDir(p, func(d string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return err
			}
			if whole, seen := dirs[d]; seen && whole {
				return nil
			}
			if err := add(d); err != nil {
				return err
			}
			dirs[d] = true
			return nil
		})
		if err != nil {
			w.Close()
			return err
		}
	}
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-w.Errors:
				slog.WarnContext(ctx, "watching files", "error", err)
			case ev := <-w.Events:
				dir, base := filepath.Dir(ev.Name), filepath.Base(ev.Name)
				// A whole directory's event, a watched file's, or a
				// Kubernetes volume's swap (..data, ..2026_12_02…).
				if !dirs[dir] && !names[ev.Name] && !strings.HasPrefix(base, "..") {
					continue
				}
				if dirs[dir] && ev.Has(fsnotify.Create) {
					if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() && len(dirs) < MaxWatchedDirs {
						if w.Add(ev.Name) == nil {
							dirs[ev.Name] = true
						}
					}
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
	}()
	return nil
}
