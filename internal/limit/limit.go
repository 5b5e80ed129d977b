// Package limit caps byte streams that come from outside: an archive, a
// download, a server's answer. A stream that ends within its cap reads as
// it is; one that goes on fails the read after the cap with the caller's
// error, marked retry.Permanent (the same source is as large next time).
//
//	body = limit.ReadCloser(resp.Body, 32<<20, func() error { return errors.New("Vault's answer is larger than 32 MiB") })
package limit

import (
	"io"

	"github.com/initbox/initbox/internal/retry"
)

// Reader returns r capped at max bytes; tooLarge makes the error of a read
// past it.
func Reader(r io.Reader, max int64, tooLarge func() error) io.Reader {
	return &reader{r: r, left: max, tooLarge: tooLarge}
}

// ReadCloser is Reader for a body that must be closed.
func ReadCloser(rc io.ReadCloser, max int64, tooLarge func() error) io.ReadCloser {
	return struct {
		io.Reader
		io.Closer
	}{Reader(rc, max, tooLarge), rc}
}

type reader struct {
	r        io.Reader
	left     int64
	tooLarge func() error
}

func (l *reader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a stream that ends at the cap from one that
		// goes on.
		var one [1]byte
		for {
			n, err := l.r.Read(one[:])
			switch {
			case n > 0:
				return 0, retry.Permanent(l.tooLarge())
			case err != nil:
				return 0, err
			}
		}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
