package wait

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/initbox/initbox/wait/check"
)

// unixChecker is ready when a connection to a Unix socket opens.
type unixChecker struct {
	path, display string
	dialer        net.Dialer
}

var _ check.Checker = (*unixChecker)(nil)

func newUnix(u *url.URL, display string) (*unixChecker, error) {
	path, err := localPath(u)
	if err != nil {
		return nil, err
	}
	if err := noExtras(u, true, false); err != nil {
		return nil, err
	}
	return &unixChecker{path: path, display: display}, nil
}

func (c *unixChecker) String() string { return c.display }

func (c *unixChecker) Check(ctx context.Context) error {
	conn, err := c.dialer.DialContext(ctx, "unix", c.path)
	if err != nil {
		// ENOENT (not created yet) and ECONNREFUSED (no listener yet) heal;
		// EACCES does not.
		return check.Net(err)
	}
	return conn.Close()
}

// fileChecker is ready when a path exists; with ?nonempty, when it is a
// non-empty file or a directory with at least one entry (a seeded volume).
type fileChecker struct {
	path, display string
	nonEmpty      bool
}

var _ check.Checker = (*fileChecker)(nil)

func newFile(u *url.URL, display string) (*fileChecker, error) {
	path, err := localPath(u)
	if err != nil {
		return nil, err
	}
	if err := noExtras(u, true, true); err != nil {
		return nil, err
	}
	c := &fileChecker{path: path, display: display}
	for k, vs := range u.Query() {
		switch k {
		case "nonempty":
			v := vs[len(vs)-1]
			c.nonEmpty = v == "" || v == "1" || v == "true"
			if !c.nonEmpty && v != "0" && v != "false" {
				return nil, fmt.Errorf("?nonempty=%q: use ?nonempty or ?nonempty=false", v)
			}
		default:
			return nil, fmt.Errorf("unknown query parameter %q; file:// takes ?nonempty", k)
		}
	}
	return c, nil
}

func (c *fileChecker) String() string { return c.display }

func (c *fileChecker) Check(context.Context) error {
	fi, err := os.Stat(c.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return check.NotReady(fmt.Errorf("%s does not exist yet", c.path))
	case err != nil:
		return err // permission denied, a file where a directory should be: waiting will not help
	case !c.nonEmpty:
		return nil
	case fi.IsDir():
		d, err := os.Open(c.path)
		if err != nil {
			return err
		}
		defer d.Close()
		if _, err := d.ReadDir(1); errors.Is(err, io.EOF) {
			return check.NotReady(fmt.Errorf("directory %s is empty", c.path))
		} else if err != nil {
			return err
		}
		return nil
	case fi.Size() == 0:
		return check.NotReady(fmt.Errorf("%s is empty", c.path))
	}
	return nil
}

// localPath returns the absolute path of a unix:// or file:// URL.
func localPath(u *url.URL) (string, error) {
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("%s://%s…: use three slashes for an absolute path: %s:///path", u.Scheme, u.Host, u.Scheme)
	}
	p := u.Path
	if u.Opaque != "" {
		p = u.Opaque
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("path %q must be absolute: %s:///path", p, u.Scheme)
	}
	return filepath.Clean(p), nil
}
