package limit

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/initbox/initbox/internal/retry"
)

var errBig = errors.New("too large")

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int64
		fail bool
	}{
		{"", 0, false},
		{"abc", 3, false}, // exactly at the cap
		{"abc", 10, false},
		{"abcd", 3, true},
		{"a", 0, true},
	} {
		for _, slow := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if slow {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(Reader(r, tc.max, func() error { return errBig }))
			switch {
			case tc.fail && (!errors.Is(err, errBig) || !retry.IsPermanent(err)):
				t.Errorf("%q cap %d: %v, want a permanent errBig", tc.in, tc.max, err)
			case !tc.fail && (err != nil || string(got) != tc.in):
				t.Errorf("%q cap %d: %q, %v", tc.in, tc.max, got, err)
			case tc.fail && int64(len(got)) > tc.max:
				t.Errorf("%q cap %d: %d bytes passed", tc.in, tc.max, len(got))
			}
		}
	}
	// A source's own error passes through.
	if _, err := io.ReadAll(Reader(iotest.ErrReader(io.ErrUnexpectedEOF), 5, nil)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v", err)
	}
}
