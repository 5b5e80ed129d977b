package gunzip

import "errors"

// A table decodes one Huffman code of a deflate stream (RFC 1951 §3.2.2)
// with one lookup of the next tableBits input bits, and a second one in a
// subtable for the few codes that are longer.
//
// Each entry is a uint32:
//
//	bits  0-3   the code's length, or what is left of it in a subtable
//	bits  4-7   what the entry is (kindLiteral …)
//	bits  8-15  extra bits that follow the code (lengths, distances), or
//	            the index bits of a subtable
//	bits 16-31  the value: a literal, a length or distance base, an index
type table struct {
	bits    uint     // bits of the first lookup
	entries []uint32 // 1<<bits first-level entries, then the subtables
}

const (
	kindLiteral  = iota // a literal byte (or a code length symbol)
	kindLength          // a match length: base in the value, then extra bits
	kindEnd             // the end of the block
	kindSub             // a code longer than the table's bits: look again
	kindInvalid         // no code has these bits (an incomplete code)
	kindDistance        // a match distance: base in the value, then extra bits
)

func entry(length uint, kind, extra, value uint32) uint32 {
	return uint32(length) | kind<<4 | extra<<8 | value<<16
}

var errCode = errors.New("invalid Huffman code")

// maxCodeBits is the longest code deflate allows.
const maxCodeBits = 15

// build makes the table of the canonical code with these code lengths
// (zero: the symbol is not used). sym maps a symbol to its entry (without
// the length). A code must be complete, except that a single code of one
// bit, or no code at all (a block of literals has no distances), is
// allowed — what zlib and compress/flate accept.
func (t *table) build(lengths []uint8, bits uint, sym func(s int) uint32) error {
	var count [maxCodeBits + 1]int
	maxLen := uint(0)
	for _, l := range lengths {
		count[l]++
		if uint(l) > maxLen {
			maxLen = uint(l)
		}
	}
	count[0] = 0
	left := 1
	for l := 1; l <= maxCodeBits; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return errCode // over-subscribed
		}
	}
	if left > 0 && !(maxLen == 1 && count[1] == 1) && maxLen != 0 {
		return errCode // incomplete
	}
	t.bits = bits
	n := 1 << bits
	if cap(t.entries) >= n {
		t.entries = t.entries[:n]
	} else {
		t.entries = make([]uint32, n)
	}
	invalid := entry(0, kindInvalid, 0, 0)
	for i := range t.entries {
		t.entries[i] = invalid
	}
	// The first code of each length (RFC 1951 §3.2.2, step 2).
	var next [maxCodeBits + 2]int
	code := 0
	for l := 1; l <= maxCodeBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	subBits := uint(0)
	if maxLen > bits {
		subBits = maxLen - bits
	}
	for s, l := range lengths {
		if l == 0 {
			continue
		}
		length := uint(l)
		c := next[length]
		next[length]++
		r := reverse(c, length) // deflate sends codes from their top bit, read from the low bit
		e := sym(s)
		if length <= bits {
			for i := r; i < n; i += 1 << length {
				t.entries[i] = e | uint32(length)
			}
			continue
		}
		// A long code: the first bits pick a subtable of 1<<subBits entries
		// (made when the first code of that prefix arrives), the rest an
		// entry in it.
		prefix := r & (n - 1)
		sub := t.entries[prefix]
		if sub>>4&0xf != kindSub {
			start := len(t.entries)
			for range 1 << subBits {
				t.entries = append(t.entries, invalid)
			}
			sub = entry(bits, kindSub, uint32(subBits), uint32(start))
			t.entries[prefix] = sub
		}
		start := int(sub >> 16)
		rest := length - bits
		for i := r >> bits; i < 1<<subBits; i += 1 << rest {
			t.entries[start+i] = e | uint32(rest)
		}
	}
	return nil
}

func reverse(c int, n uint) int {
	r := 0
	for range n {
		r = r<<1 | c&1
		c >>= 1
	}
	return r
}

// The length and distance symbols' bases and extra bits (RFC 1951 §3.2.5).
var (
	lengthBase  = [29]uint32{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint32{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint32{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// litLenSym is the entry of a literal/length symbol.
func litLenSym(s int) uint32 {
	switch {
	case s < 256:
		return entry(0, kindLiteral, 0, uint32(s))
	case s == 256:
		return entry(0, kindEnd, 0, 0)
	case s < 286:
		return entry(0, kindLength, lengthExtra[s-257], lengthBase[s-257])
	}
	return entry(0, kindInvalid, 0, 0) // 286 and 287: in the fixed code, never valid
}

func distSym(s int) uint32 {
	if s < 30 {
		return entry(0, kindDistance, distExtra[s], distBase[s])
	}
	return entry(0, kindInvalid, 0, 0)
}

func plainSym(s int) uint32 { return entry(0, kindLiteral, 0, uint32(s)) }

// The tables of the fixed code (RFC 1951 §3.2.6), made once.
var fixedLit, fixedDist = func() (table, table) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [32]uint8
	for i := range d {
		d[i] = 5
	}
	var lit, dist table
	if lit.build(l[:], litBits, litLenSym) != nil || dist.build(d[:], distBits, distSym) != nil {
		panic("gunzip: the fixed code does not build")
	}
	return lit, dist
}()
