package gunzip

import (
	"bufio"
	"bytes"
	stdflate "compress/flate"
	stdgzip "compress/gzip"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"testing/iotest"

	kgzip "github.com/klauspost/compress/gzip"
)

// samples are inputs of the shapes deflate meets: empty, one byte, random
// (stored or literal-only blocks), text with long and overlapping matches,
// runs (distance 1), and all of it mixed, longer than the window and the
// output buffer.
func samples() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	var text bytes.Buffer
	words := []string{"seed", "render", "wait", "fetch", "volume", "the", "a", "initContainers", "\n", "  ", "{{ .Env.X }}"}
	for text.Len() < 700<<10 {
		text.WriteString(words[r.IntN(len(words))])
		text.WriteByte(' ')
	}
	var mixed bytes.Buffer
	for mixed.Len() < 2<<20 {
		switch r.IntN(4) {
		case 0:
			mixed.Write(random[:r.IntN(40000)])
		case 1:
			mixed.Write(text.Bytes()[:r.IntN(90000)])
		case 2:
			mixed.Write(bytes.Repeat([]byte{byte(r.Uint32())}, r.IntN(5000)))
		default:
			mixed.Write(bytes.Repeat([]byte("abc"), r.IntN(3000)))
		}
	}
	return map[string][]byte{"empty": {}, "one": {'x'}, "random": random, "text": text.Bytes(),
		"run": bytes.Repeat([]byte{0}, 1<<20), "mixed": mixed.Bytes()}
}

func gunzip(t testing.TB, r io.Reader) ([]byte, error) {
	t.Helper()
	z, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(z)
}

// Streams made by compress/gzip at every level, klauspost's gzip, and GNU
// gzip decode to what went in — also when the input arrives a byte at a
// time (every refill path at every position).
func TestDecodesWhatCompressorsMake(t *testing.T) {
	for name, data := range samples() {
		streams := map[string][]byte{}
		for _, level := range []int{stdgzip.HuffmanOnly, stdgzip.NoCompression, stdgzip.BestSpeed, 5, stdgzip.BestCompression} {
			var b bytes.Buffer
			w, _ := stdgzip.NewWriterLevel(&b, level)
			w.Write(data)
			w.Close()
			streams["std-"+string(rune('0'+level+2))] = b.Bytes()
		}
		var b bytes.Buffer
		w, _ := kgzip.NewWriterLevel(&b, kgzip.BestSpeed)
		w.Write(data)
		w.Close()
		streams["klauspost"] = b.Bytes()
		cmd := exec.Command("gzip", "-c", "-9")
		cmd.Stdin = bytes.NewReader(data)
		gnu, err := cmd.Output()
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		streams["gnu"] = gnu
		for how, s := range streams {
			got, err := gunzip(t, bytes.NewReader(s))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s/%s: %d bytes (want %d), equal %v, err %v", name, how, len(got), len(data), bytes.Equal(got, data), err)
			}
			if len(s) < 200<<10 {
				got, err = gunzip(t, iotest.OneByteReader(bytes.NewReader(s)))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s/%s, a byte at a time: %d bytes (want %d), err %v", name, how, len(got), len(data), err)
				}
			}
		}
	}
}

// Members one after another are one stream (gzip -d's behaviour); names,
// comments, extra fields and a header CRC are skipped over.
func TestMembersAndHeaderFields(t *testing.T) {
	var b bytes.Buffer
	w := stdgzip.NewWriter(&b)
	w.Name, w.Comment, w.Extra = "a.tar", "made by a test", []byte{'A', 'B', 3, 0, 1, 2, 3}
	w.Write([]byte("first member\n"))
	w.Close()
	w = stdgzip.NewWriter(&b)
	w.Write([]byte("second member\n"))
	w.Close()
	// A member with FHCRC: the low 16 bits of the CRC-32 of the header.
	hdr := []byte{0x1f, 0x8b, 8, 0x02, 0, 0, 0, 0, 0, 255}
	sum := crc32.ChecksumIEEE(hdr)
	var body bytes.Buffer
	fw, _ := stdflate.NewWriter(&body, 6)
	fw.Write([]byte("third\n"))
	fw.Close()
	b.Write(hdr)
	b.Write([]byte{byte(sum), byte(sum >> 8)})
	b.Write(body.Bytes())
	c := crc32.ChecksumIEEE([]byte("third\n"))
	b.Write([]byte{byte(c), byte(c >> 8), byte(c >> 16), byte(c >> 24), 6, 0, 0, 0})
	got, err := gunzip(t, bytes.NewReader(b.Bytes()))
	if err != nil || string(got) != "first member\nsecond member\nthird\n" {
		t.Fatalf("got %q, %v", got, err)
	}

	bad := bytes.Clone(b.Bytes())
	bad[len(bad)-len(body.Bytes())-9] ^= 1 // the header CRC of the third member
	if _, err := gunzip(t, bytes.NewReader(bad)); !errors.Is(err, ErrHeader) {
		t.Fatalf("a wrong header CRC: %v, want ErrHeader", err)
	}
	if _, err := gunzip(t, bytes.NewReader(append(bytes.Clone(b.Bytes()), "trailing"...))); !errors.Is(err, ErrHeader) {
		t.Fatalf("trailing garbage: %v, want ErrHeader", err)
	}
	if _, err := NewReader(bytes.NewReader([]byte("PK\x03\x04 not gzip"))); !errors.Is(err, ErrHeader) {
		t.Fatalf("zip data: %v, want ErrHeader", err)
	}
}

// A stream cut anywhere is an error, never a clean end; a changed byte in
// the data is an error too (deflate's own checks or the CRC-32).
func TestTruncatedAndCorrupt(t *testing.T) {
	data := samples()["mixed"][:200<<10]
	var b bytes.Buffer
	w := stdgzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	s := b.Bytes()
	for cut := 0; cut < len(s); cut += 1 + cut/50 {
		_, err := gunzip(t, bytes.NewReader(s[:cut]))
		if err == nil || err == io.EOF {
			t.Fatalf("cut at %d of %d: err %v", cut, len(s), err)
		}
	}
	for _, cut := range []int{len(s) - 1, len(s) - 8, len(s) - 9} {
		if _, err := gunzip(t, bytes.NewReader(s[:cut])); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d of %d: %v, want io.ErrUnexpectedEOF", cut, len(s), err)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		bad := bytes.Clone(s)
		i := 10 + r.IntN(len(s)-10)
		bad[i] ^= byte(1 + r.IntN(255))
		if got, err := gunzip(t, bytes.NewReader(bad)); err == nil {
			t.Fatalf("byte %d changed: no error (%d bytes, equal %v)", i, len(got), bytes.Equal(got, data))
		}
	}
	failing := errors.New("connection reset")
	_, err := gunzip(t, io.MultiReader(bytes.NewReader(s[:1000]), iotest.ErrReader(failing)))
	if !errors.Is(err, failing) {
		t.Fatalf("a failing source: %v, want its error", err)
	}
}

// rawInflate decodes a bare deflate stream.
func rawInflate(data []byte) ([]byte, error) {
	z := &Reader{raw: true}
	z.f.src = bytes.NewReader(data)
	z.f.out = make([]byte, window+outSize)
	return io.ReadAll(z)
}

// FuzzInflate holds the decoder to compress/flate on any input: where one
// decodes, the other decodes the same bytes; where one refuses, so does
// the other. The seeds are valid streams of every block type, and broken
// ones.
func FuzzInflate(f *testing.F) {
	for _, data := range samples() {
		for _, level := range []int{stdflate.HuffmanOnly, stdflate.NoCompression, stdflate.BestSpeed, stdflate.BestCompression} {
			var b bytes.Buffer
			w, _ := stdflate.NewWriter(&b, level)
			w.Write(data[:min(len(data), 5000)])
			w.Close()
			f.Add(b.Bytes())
		}
	}
	stream, _ := alternating()
	f.Add(stream[:min(len(stream), 4000)])            // fixed, stored, dynamic blocks (cut)
	f.Add([]byte{0x03, 0x00})                         // an empty fixed block
	f.Add([]byte{0x07})                               // a reserved block type
	f.Add([]byte{0x01, 0x01, 0x00, 0xfe, 0xff, 'x'})  // a stored block
	f.Add([]byte{0x01, 0x01, 0x00, 0xfe, 0xfe, 'x'})  // its length's complement wrong
	f.Add([]byte{0x63, 0x00, 0x42, 0x00, 0x00, 0x00}) // a distance before the start
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := io.ReadAll(stdflate.NewReader(bytes.NewReader(data)))
		got, gerr := rawInflate(data)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("compress/flate: %d bytes, %v; gunzip: %d bytes, %v", len(want), werr, len(got), gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %d bytes, compress/flate %d: different", len(got), len(want))
		}
	})
}

// BenchmarkGunzip: this package against klauspost's gzip (from a
// bufio.Reader, its fastest input) and compress/gzip, on a tar.gz of
// random 4 KiB files like make bench's (stored-like literal blocks) and on
// text (matches). Set GUNZIP_BENCH_FILE to decode a file of your own.
func BenchmarkGunzip(b *testing.B) {
	inputs := map[string][]byte{}
	if name := os.Getenv("GUNZIP_BENCH_FILE"); name != "" {
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		inputs["file"] = data
	} else {
		s := samples()
		for _, name := range []string{"random", "text", "mixed"} {
			var buf bytes.Buffer
			w := stdgzip.NewWriter(&buf)
			for range 8 {
				w.Write(s[name])
			}
			w.Close()
			inputs[name] = buf.Bytes()
		}
	}
	for name, gz := range inputs {
		size := int64(0)
		if z, err := stdgzip.NewReader(bytes.NewReader(gz)); err == nil {
			size, _ = io.Copy(io.Discard, z)
		}
		for _, dec := range []struct {
			name string
			open func(io.Reader) (io.Reader, error)
		}{
			{"gunzip", func(r io.Reader) (io.Reader, error) { return NewReader(r) }},
			{"klauspost", func(r io.Reader) (io.Reader, error) { return kgzip.NewReader(bufio.NewReaderSize(r, 256<<10)) }},
			{"stdlib", func(r io.Reader) (io.Reader, error) { return stdgzip.NewReader(bufio.NewReaderSize(r, 256<<10)) }},
		} {
			b.Run(name+"/"+dec.name, func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					z, err := dec.open(bytes.NewReader(gz))
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, z); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// Fixed and dynamic blocks alternate in one stream, and the fixed code
// stays intact for the next stream: a dynamic block's table is built in the
// decoder's own space, never over the shared fixed one.
func TestFixedAndDynamicBlocksAlternate(t *testing.T) {
	out, want := alternating()
	if ref, err := io.ReadAll(stdflate.NewReader(bytes.NewReader(out))); err != nil || !bytes.Equal(ref, want) {
		t.Fatalf("the test's stream is wrong: compress/flate read %d bytes, %v", len(ref), err)
	}
	for round := range 3 {
		got, err := rawInflate(out)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("round %d: %d bytes (want %d), equal %v, err %v", round, len(got), len(want), bytes.Equal(got, want), err)
		}
	}
}

// alternating returns a raw deflate stream of a fixed block, an empty
// stored one, compress/flate's dynamic blocks and a flush, and a final
// fixed block; and what it decodes to.
func alternating() (stream, want []byte) {
	// field and code write deflate's bit stream: fields from their low bit,
	// Huffman codes from their high bit. deflate's bit stream: fields from their low bit, Huffman
	// codes from their high bit.
	var out []byte
	var acc uint32
	var n uint
	field := func(v uint32, width uint) {
		acc |= v << n
		n += width
		for n >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	code := func(c uint32, width uint) {
		for i := int(width) - 1; i >= 0; i-- {
			field(c>>uint(i)&1, 1)
		}
	}
	fixed := func(text string, final uint32) {
		field(final, 1)
		field(1, 2) // fixed Huffman codes
		for _, c := range []byte(text) {
			code(0x30+uint32(c), 8) // literals 0-143: 8 bits from 00110000
		}
		code(0, 7) // end of block
	}
	fixed("ab", 0)
	field(0, 3) // an empty stored block: back to a byte boundary
	if n > 0 {
		field(0, 8-n)
	}
	out = append(out, 0, 0, 0xff, 0xff)
	text := samples()["text"][:100<<10]
	var b bytes.Buffer
	w, _ := stdflate.NewWriter(&b, stdflate.BestSpeed) // dynamic blocks, then a flush's empty stored block
	w.Write(text)
	w.Flush()
	out = append(out, b.Bytes()...)
	fixed("cd", 1)
	if n > 0 {
		field(0, 8-n)
	}
	return out, append(append([]byte("ab"), text...), "cd"...)
}
