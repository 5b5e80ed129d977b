package publish

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Limits of resolving a link: Linux's own (MAXSYMLINKS, PATH_MAX).
const (
	maxLinkHops   = 40
	MaxLinkTarget = 4096
)

// ErrLeadsOut is wrapped when a link resolves outside its tree.
var ErrLeadsOut = errors.New("leads out of the tree")

// Resolve follows the link name in the tree at root, through the links the
// tree really contains, as the kernel would, and returns where it leads
// (relative to root, "." for root itself). It fails, wrapping ErrLeadsOut,
// when the link — or a link it goes through — is absolute or climbs above
// root, however it gets there: a lexical check of the target alone misses
// d/l -> .. followed by x -> d/l/d/l/../../etc. What does not exist (yet) is
// resolved lexically, so a dangling link is kept only if it would stay
// inside whatever is created there later. At most 40 links are followed.
func Resolve(root *os.Root, name string) (string, error) {
	target, err := root.Readlink(name)
	if err != nil {
		return "", err
	}
	var dir []string // where the walk is, as components below root
	if d := path.Dir(name); d != "." {
		dir = strings.Split(d, "/")
	}
	via := name
	pending, err := linkComponents(via, target)
	if err != nil {
		return "", err
	}
	exists := true // once a component is missing, the rest is lexical
	for hops := 1; len(pending) > 0; {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(dir) == 0 {
				if via != name {
					return "", fmt.Errorf("link %q to %q %w (through the link %q)", clip(name), clip(target), ErrLeadsOut, clip(via))
				}
				return "", fmt.Errorf("link %q to %q %w", clip(name), clip(target), ErrLeadsOut)
			}
			dir = dir[:len(dir)-1]
			continue
		}
		at := strings.Join(append(dir[:len(dir):len(dir)], c), "/")
		if exists {
			fi, err := root.Lstat(at)
			switch {
			case errors.Is(err, fs.ErrNotExist), err == nil && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0:
				exists = false // a file, or nothing: nothing below it exists now
			case err != nil:
				return "", fmt.Errorf("link %q: %w", clip(name), err)
			case fi.Mode()&fs.ModeSymlink != 0:
				if hops++; hops > maxLinkHops {
					return "", fmt.Errorf("link %q: more than %d links to follow (a loop?)", clip(name), maxLinkHops)
				}
				t, err := root.Readlink(at)
				if err != nil {
					return "", fmt.Errorf("link %q: %w", clip(name), err)
				}
				more, err := linkComponents(at, t)
				if err != nil {
					return "", fmt.Errorf("link %q to %q goes through a bad link: %w", clip(name), clip(target), err)
				}
				via = at
				pending = append(more, pending...)
				continue
			}
		}
		dir = append(dir, c)
	}
	if len(dir) == 0 {
		return ".", nil
	}
	return strings.Join(dir, "/"), nil
}

// linkComponents splits a link's target, refusing what no tree can hold.
func linkComponents(name, target string) ([]string, error) {
	switch {
	case target == "":
		return nil, fmt.Errorf("link %q: empty target", clip(name))
	case len(target) > MaxLinkTarget:
		return nil, fmt.Errorf("link %q: a target of %d bytes (at most %d)", clip(name), len(target), MaxLinkTarget)
	case strings.ContainsRune(target, 0):
		return nil, fmt.Errorf("link %q: NUL in the target", clip(name))
	case path.IsAbs(target):
		return nil, fmt.Errorf("link %q to %q: an absolute link %w", clip(name), clip(target), ErrLeadsOut)
	}
	return strings.Split(target, "/"), nil
}

// CheckLinks resolves every link of the staged version not checked yet: a
// link that leads out of the tree — through links made before or after it
// — is an error naming it. The publish calls it once the fill is done
// (nothing leaves that it did not check); a fill may call it first to
// report the error its own way. The links must not change meanwhile.
func (s *Stage) CheckLinks() error {
	s.mu.Lock()
	links := s.links[s.linksChecked:]
	s.linksChecked = len(s.links)
	s.mu.Unlock()
	for _, name := range links {
		if _, err := Resolve(s.root, name); err != nil {
			return fmt.Errorf("%w; refused", err)
		}
	}
	return nil
}
