package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// StartWriteback asks the kernel to start writing bytes [off, off+n) of f to
// disk without waiting, so that a later fsync of a large file has little
// left to do: the disk works while the download goes on. Best effort: the
// caller may ignore the error, the final fsync is what makes data durable.
func StartWriteback(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}); err != nil {
		return err
	}
	return serr
}
