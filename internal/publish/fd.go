package publish

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// fdReader and fdWriter read and write plain descriptors (CopyFile's
// fallback copy), without wrapping them in an *os.File that would close
// them too.

type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	n, err := unix.Read(int(r), p)
	switch {
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := unix.Write(int(w), p[written:])
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

func sizeChanged(copied, size int64) error {
	return fmt.Errorf("the source changed size while it was copied (%d of %d bytes)", copied, size)
}
