//go:build !linux

package publish

import (
	"fmt"
	"io"
	"io/fs"

	"golang.org/x/sys/unix"
)

// copyInto sets the mode and owner of the new file fd and fills it with
// size bytes of src.
func (s *Stage) copyInto(fd int, mode fs.FileMode, sfd int, size int64) error {
	if err := unix.Fchmod(fd, uint32(mode.Perm())); err != nil {
		return err
	}
	if o := s.opts.Owner; o != nil {
		if err := unix.Fchown(fd, o.UID, o.GID); err != nil {
			return fmt.Errorf("setting owner %d:%d: %w", o.UID, o.GID, err)
		}
	}
	n, err := io.Copy(fdWriter(fd), fdReader(sfd))
	if err == nil && n != size {
		err = fmt.Errorf("the source changed size while it was copied (%d of %d bytes)", n, size)
	}
	return err
}
