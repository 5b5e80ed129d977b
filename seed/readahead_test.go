package seed

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
)

// readAhead hands over every byte in order across chunk boundaries, passes
// on the source's own error after the data (a truncated stream stays
// io.ErrUnexpectedEOF, not a clean end), and stops when closed early.
func TestReadAhead(t *testing.T) {
	data := make([]byte, 3*readAheadChunk+12345)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	got, err := io.ReadAll(iotest.OneByteReader(newReadAhead(iotest.HalfReader(bytes.NewReader(data)), nil)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes, equal %v, err %v", len(got), len(data), bytes.Equal(got, data), err)
	}

	truncated := io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(io.ErrUnexpectedEOF))
	got, err = io.ReadAll(newReadAhead(truncated, nil))
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 1000 {
		t.Fatalf("truncated: %d bytes, err %v; want 1000 and io.ErrUnexpectedEOF", len(got), err)
	}

	// done runs on the reading goroutine when it stops: the only one that
	// touches the source, so closing a decoder there races with nothing
	// (the race detector saw gzip's Close race with a read when the caller
	// closed it).
	ended := make(chan struct{})
	ra := newReadAhead(bytes.NewReader(data), func() { close(ended) })
	buf := make([]byte, 10)
	if _, err := ra.Read(buf); err != nil {
		t.Fatal(err)
	}
	ra.Close()
	ra.Close() // twice is fine
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("done did not run after Close")
	}
}
