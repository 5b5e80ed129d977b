package gunzip

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Bits of the first lookup: 11 for literals and lengths (an 8 KiB table,
// most codes in one lookup), 8 for distances.
const (
	litBits  = 11
	distBits = 8
)

const (
	window   = 32 << 10 // how far back a match may reach
	maxMatch = 258
)

// CorruptError is a deflate stream that breaks RFC 1951, at a byte offset
// of the compressed input.
type CorruptError struct {
	Offset int64
	What   string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt deflate data at compressed byte %d: %s", e.Offset, e.What)
}

// inflater decodes one deflate stream at a time from a buffered input. Its
// state is kept between calls so that decoding stops when the output
// buffer is full and goes on after the reader took it.
type inflater struct {
	src   io.Reader
	in    []byte // input buffer; in[ip:] is unread
	ip    int
	base  int64 // offset in the stream of in[0]
	eof   error // src's error after the last byte (io.EOF at a clean end)
	b     uint64
	nb    uint // bits in b
	pad   uint // zero bits added past the end of the input (never consumed in a whole stream)
	out   []byte
	op    int // out[:op] is output; out[op-window:op] the history
	start int // where this stream's output starts in out (a match reaches no further back)
	final bool
	state int    // where the current block is
	store int    // bytes left in a stored block
	lit   *table // the block's codes: the shared fixed ones, or dynLit/dynDist
	dist  *table
	// A dynamic block's codes are built here, never over the shared fixed
	// tables.
	dynLit, dynDist, cl table
	lens                [286 + 30]uint8
}

const (
	stateHeader = iota // between blocks
	stateCodes         // inside a compressed block
	stateStored        // inside a stored block
	stateDone          // after the final block
)

const inputSize = 256 << 10

func (f *inflater) offset() int64 { return f.base + int64(f.ip) - int64(f.nb/8) }

func (f *inflater) corrupt(what string) error { return &CorruptError{Offset: f.offset(), What: what} }

// more reads input after what is unread; it returns false at the end of it.
func (f *inflater) more() bool {
	if f.eof != nil {
		return false
	}
	if f.in == nil {
		f.in = make([]byte, 0, inputSize)
	}
	// Keep the last 8 bytes read: the bit buffer may hold them, and align
	// gives them back.
	if keep := min(f.ip, 8); f.ip > keep {
		n := copy(f.in[:cap(f.in)], f.in[f.ip-keep:])
		f.base += int64(f.ip - keep)
		f.in, f.ip = f.in[:n], keep
	}
	for len(f.in) < cap(f.in) {
		n, err := f.src.Read(f.in[len(f.in):cap(f.in)])
		f.in = f.in[:len(f.in)+n]
		if err != nil {
			f.eof = err
			break
		}
		if n > 0 {
			return true
		}
	}
	return len(f.in) > f.ip
}

// refill puts at least 56 bits in b: eight bytes at once where the input
// has them, else byte by byte, then zero bits past the end (counted in
// pad: consuming one means the stream was cut short).
func (f *inflater) refill() {
	if f.ip+8 <= len(f.in) {
		f.b |= binary.LittleEndian.Uint64(f.in[f.ip:]) << f.nb
		f.ip += int(63-f.nb) >> 3
		f.nb |= 56
		return
	}
	for f.nb <= 56 {
		if f.ip == len(f.in) && !f.more() {
			f.nb += 8
			f.pad += 8
			continue
		}
		if f.ip+8 <= len(f.in) {
			f.refill()
			return
		}
		f.b |= uint64(f.in[f.ip]) << f.nb
		f.ip++
		f.nb += 8
	}
}

// take consumes n bits (n <= 32) and returns them.
func (f *inflater) take(n uint) (uint32, error) {
	if f.nb < n {
		f.refill()
	}
	v := uint32(f.b & (1<<n - 1))
	f.b >>= n
	f.nb -= n
	if f.nb < f.pad {
		return 0, f.truncated()
	}
	return v, nil
}

func (f *inflater) truncated() error {
	if f.eof != nil && f.eof != io.EOF {
		return f.eof // the source's own error
	}
	return io.ErrUnexpectedEOF
}

// align drops the bits up to the next byte boundary and gives the whole
// bytes in b back to the input, for byte-wise reading (a stored block, the
// gzip trailer).
func (f *inflater) align() error {
	f.nb -= f.nb % 8
	if f.nb < f.pad {
		return f.truncated()
	}
	f.ip -= int(f.nb-f.pad) / 8
	f.b, f.nb, f.pad = 0, 0, 0
	return nil
}

// readBytes reads exactly len(p) bytes after align.
func (f *inflater) readBytes(p []byte) error {
	for len(p) > 0 {
		if f.ip == len(f.in) && !f.more() {
			return f.truncated()
		}
		n := copy(p, f.in[f.ip:])
		f.ip += n
		p = p[n:]
	}
	return nil
}

// decode writes output into f.out from f.op until it is nearly full (less
// than a match's room left) or the stream ends.
func (f *inflater) decode() error {
	for f.op+maxMatch <= len(f.out) {
		switch f.state {
		case stateDone:
			return nil
		case stateHeader:
			if f.final {
				f.state = stateDone
				return nil
			}
			if err := f.blockHeader(); err != nil {
				return err
			}
		case stateStored:
			if f.store == 0 {
				f.state = stateHeader
				continue
			}
			if f.ip == len(f.in) && !f.more() {
				return f.truncated()
			}
			n := copy(f.out[f.op:], f.in[f.ip:min(len(f.in), f.ip+f.store)])
			f.ip += n
			f.op += n
			f.store -= n
		case stateCodes:
			if err := f.codes(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *inflater) blockHeader() error {
	h, err := f.take(3)
	if err != nil {
		return err
	}
	f.final = h&1 == 1
	switch h >> 1 {
	case 0:
		if err := f.align(); err != nil {
			return err
		}
		var lens [4]byte
		if err := f.readBytes(lens[:]); err != nil {
			return err
		}
		n, nn := binary.LittleEndian.Uint16(lens[:2]), binary.LittleEndian.Uint16(lens[2:])
		if n != ^nn {
			return f.corrupt("stored block length does not match its complement")
		}
		f.state, f.store = stateStored, int(n)
	case 1:
		f.lit, f.dist = &fixedLit, &fixedDist
		f.state = stateCodes
	case 2:
		if err := f.dynamic(); err != nil {
			return err
		}
		f.state = stateCodes
	default:
		return f.corrupt("reserved block type")
	}
	return nil
}

// clOrder is the order of the code length code's lengths (RFC 1951 §3.2.7).
var clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func (f *inflater) dynamic() error {
	h, err := f.take(14)
	if err != nil {
		return err
	}
	nlit, ndist, nclen := int(h&31)+257, int(h>>5&31)+1, int(h>>10)+4
	if nlit > 286 || ndist > 30 {
		return f.corrupt("too many length or distance codes")
	}
	var cl [19]uint8
	for i := range nclen {
		v, err := f.take(3)
		if err != nil {
			return err
		}
		cl[clOrder[i]] = uint8(v)
	}
	if f.cl.build(cl[:], 7, plainSym) != nil {
		return f.corrupt("invalid code length code")
	}
	lens := f.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		if f.nb < 16 {
			f.refill()
		}
		e := f.cl.entries[f.b&(1<<f.cl.bits-1)]
		if e>>4&0xf == kindInvalid {
			return f.corrupt("invalid code length symbol")
		}
		n := uint(e & 0xf)
		f.b >>= n
		f.nb -= n
		if f.nb < f.pad {
			return f.truncated()
		}
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep, val uint32
		switch sym {
		case 16:
			if i == 0 {
				return f.corrupt("repeat of no previous code length")
			}
			val = uint32(lens[i-1])
			if rep, err = f.take(2); err != nil {
				return err
			}
			rep += 3
		case 17:
			if rep, err = f.take(3); err != nil {
				return err
			}
			rep += 3
		default:
			if rep, err = f.take(7); err != nil {
				return err
			}
			rep += 11
		}
		if i+int(rep) > len(lens) {
			return f.corrupt("code lengths repeat past their end")
		}
		for range rep {
			lens[i] = uint8(val)
			i++
		}
	}
	if lens[256] == 0 {
		return f.corrupt("no end-of-block code")
	}
	if f.dynLit.build(lens[:nlit], litBits, litLenSym) != nil {
		return f.corrupt("invalid literal/length code")
	}
	if f.dynDist.build(lens[nlit:], distBits, distSym) != nil {
		return f.corrupt("invalid distance code")
	}
	f.lit, f.dist = &f.dynLit, &f.dynDist
	return nil
}

// codes decodes the symbols of a compressed block until the block ends or
// the output has less than a match's room. It is the hot loop: the bit
// buffer lives in locals, and one refill covers a whole length/distance
// pair (at most 15+5+15+13 = 48 bits).
func (f *inflater) codes() error {
	out, op := f.out, f.op
	b, nb, pad := f.b, f.nb, f.pad
	// The first levels as arrays: a masked index needs no bounds check.
	lit, dist := (*[1 << litBits]uint32)(f.lit.entries), (*[1 << distBits]uint32)(f.dist.entries)
	litSub, distSub := f.lit.entries, f.dist.entries
	end := len(out) - maxMatch
	var err error
	for op <= end {
		if nb < 48 {
			if f.ip+8 <= len(f.in) {
				b |= binary.LittleEndian.Uint64(f.in[f.ip:]) << nb
				f.ip += int(63-nb) >> 3
				nb |= 56
			} else {
				f.b, f.nb = b, nb
				f.refill()
				b, nb, pad = f.b, f.nb, f.pad
			}
		}
		e := lit[b&(1<<litBits-1)]
		if e>>4&0xf == kindSub {
			b >>= e & 0xf
			nb -= uint(e & 0xf)
			e = litSub[uint64(e>>16)+b&(1<<(e>>8&0xff)-1)]
		}
		n := uint(e & 0xf)
		b >>= n
		nb -= n
		if nb < pad {
			err = f.truncated()
			break
		}
		switch e >> 4 & 0xf {
		case kindLiteral:
			out[op] = byte(e >> 16)
			op++
			continue
		case kindEnd:
			f.state = stateHeader
		case kindLength:
			x := e >> 8 & 0xff
			length := int(e>>16) + int(b&(1<<x-1))
			b >>= x
			nb -= uint(x)
			d := dist[b&(1<<distBits-1)]
			if d>>4&0xf == kindSub {
				b >>= d & 0xf
				nb -= uint(d & 0xf)
				d = distSub[uint64(d>>16)+b&(1<<(d>>8&0xff)-1)]
			}
			if d>>4&0xf != kindDistance {
				err = f.corruptAt(b, nb, "invalid distance code")
				break
			}
			b >>= d & 0xf
			nb -= uint(d & 0xf)
			x = d >> 8 & 0xff
			distance := int(d>>16) + int(b&(1<<x-1))
			b >>= x
			nb -= uint(x)
			if nb < pad {
				err = f.truncated()
				break
			}
			if distance > op-f.start {
				err = f.corruptAt(b, nb, "distance before the start of the output")
				break
			}
			from := op - distance
			if distance >= length {
				copy(out[op:op+length], out[from:from+length])
			} else {
				// Overlapping: each copy doubles what can be copied at once.
				for i := 0; i < length; {
					i += copy(out[op+i:op+length], out[from+i:op+i])
				}
			}
			op += length
			continue
		default:
			err = f.corruptAt(b, nb, "invalid literal/length code")
		}
		break
	}
	f.out, f.op, f.b, f.nb = out, op, b, nb
	return err
}

func (f *inflater) corruptAt(b uint64, nb uint, what string) error {
	f.b, f.nb = b, nb
	return f.corrupt(what)
}
