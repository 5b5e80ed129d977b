//go:build !linux

package publish

import (
	"io"
)

// copyInto fills the new file fd with size bytes of the file sfd.
func copyInto(fd, sfd int, size int64) error {
	n, err := io.Copy(fdWriter(fd), fdReader(sfd))
	if err == nil && n != size {
		err = sizeChanged(n, size)
	}
	return err
}
