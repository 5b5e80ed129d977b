package publish

import "golang.org/x/sys/unix"

// syncFS flushes the filesystem that holds dir: every file and directory of
// a staged version is on disk when it returns. A variable for tests.
var syncFS = func(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
