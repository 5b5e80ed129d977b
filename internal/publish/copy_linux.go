package publish

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// copyInto fills the new file fd with size bytes of the file sfd by
// copy_file_range, falling back to read/write where the kernel refuses
// (across filesystem types).
func copyInto(fd, sfd int, size int64) error {
	var copied int64
	var cerr error
	for copied < size {
		n, err := copyFileRange(sfd, nil, fd, nil, int(size-copied), 0)
		if err != nil {
			cerr = err
			break
		}
		if n == 0 {
			break
		}
		copied += int64(n)
	}
	switch {
	case cerr == nil && copied == size:
		return nil
	case cerr != nil && !errors.Is(cerr, unix.EXDEV) && !errors.Is(cerr, unix.ENOSYS) && !errors.Is(cerr, unix.EINVAL) && !errors.Is(cerr, unix.EOPNOTSUPP):
		return cerr
	case cerr == nil:
		return sizeChanged(copied, size)
	}
	// copy_file_range refused (another filesystem type): copy through memory.
	n, err := io.Copy(fdWriter(fd), fdReader(sfd))
	if err == nil && copied+n != size {
		err = sizeChanged(copied+n, size)
	}
	return err
}

// copyFileRange is unix.CopyFileRange (a variable for tests).
var copyFileRange = unix.CopyFileRange
