package render

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"text/template"
	"time"
)

// Limits of what one render may take: values, data and templates come from
// outside (a values file an attacker wrote), and a template is a program.
const (
	// DefaultMaxBytes bounds what render reads from one file and writes
	// in all (every output together, and what include and tpl make).
	DefaultMaxBytes = 64 << 20
	// DefaultTimeout bounds a render (the command line's default).
	DefaultTimeout = 2 * time.Minute
	// maxCount bounds the functions that make something of a count:
	// until, untilStep, seq, indent, nindent, the rand* strings.
	maxCount = 1 << 20
	// maxDataDepth bounds the nesting of a data file (a TOML array nested
	// three million deep overflows the decoder's stack; JSON and YAML
	// refuse depth on their own).
	maxDataDepth = 1000
)

// budget is the bytes all of a render's outputs may still take.
type budget struct {
	left atomic.Int64
	max  int64
}

func newBudget(max int64) *budget {
	b := &budget{max: max}
	b.left.Store(max)
	return b
}

var errOutputTooLarge = errors.New("the output is larger than --max-bytes")

// take claims n bytes, failing once the budget is spent.
func (b *budget) take(n int) error {
	if b.left.Add(-int64(n)) < 0 {
		return fmt.Errorf("%w (%d bytes); a template that loops without end? raise it if the output is meant to be this large", errOutputTooLarge, b.max)
	}
	return nil
}

// budgetWriter is a template's output: it stops the template with an error
// once the render's budget is spent.
type budgetWriter struct {
	buf    bytes.Buffer
	budget *budget
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	if err := w.budget.take(len(p)); err != nil {
		return 0, err
	}
	return w.buf.Write(p)
}

// boundFuncs replaces the functions that make as much as a value asks for
// with ones that refuse a count past maxCount (or the output budget):
// `until 10000000000` or `repeat 10000000000 "x"` is an error, not an
// out-of-memory crash with a goroutine dump.
func boundFuncs(f template.FuncMap, b *budget) {
	count := func(fn string, n int) error {
		if n > maxCount || n < -maxCount {
			return fmt.Errorf("%s %d: more than %d; refused", fn, n, maxCount)
		}
		return nil
	}
	wrap1 := func(name string) {
		orig, ok := f[name].(func(int) string)
		if !ok {
			return
		}
		f[name] = func(n int) (string, error) {
			if err := count(name, n); err != nil {
				return "", err
			}
			return orig(n), nil
		}
	}
	for _, name := range []string{"randAlphaNum", "randAlpha", "randNumeric", "randAscii"} {
		wrap1(name)
	}
	if orig, ok := f["randBytes"].(func(int) (string, error)); ok {
		f["randBytes"] = func(n int) (string, error) {
			if err := count("randBytes", n); err != nil {
				return "", err
			}
			return orig(n)
		}
	}
	if orig, ok := f["until"].(func(int) []int); ok {
		f["until"] = func(n int) ([]int, error) {
			if err := count("until", n); err != nil {
				return nil, err
			}
			return orig(n), nil
		}
	}
	if orig, ok := f["untilStep"].(func(int, int, int) []int); ok {
		f["untilStep"] = func(start, stop, step int) ([]int, error) {
			if step != 0 && (stop-start)/step > maxCount {
				return nil, fmt.Errorf("untilStep %d %d %d: more than %d items; refused", start, stop, step, maxCount)
			}
			return orig(start, stop, step), nil
		}
	}
	if orig, ok := f["seq"].(func(...int) string); ok {
		f["seq"] = func(params ...int) (string, error) {
			for _, p := range params {
				if err := count("seq", p); err != nil {
					return "", err
				}
			}
			return orig(params...), nil
		}
	}
	f["repeat"] = func(n int, s string) (string, error) {
		if n < 0 || n > math.MaxInt/max(len(s), 1) {
			return "", fmt.Errorf("repeat %d: refused", n)
		}
		if int64(n)*int64(len(s)) > b.max {
			return "", fmt.Errorf("repeat %d of %d bytes: %w (%d bytes)", n, len(s), errOutputTooLarge, b.max)
		}
		return strings.Repeat(s, n), nil
	}
	for _, name := range []string{"indent", "nindent"} {
		orig, ok := f[name].(func(int, string) string)
		if !ok {
			continue
		}
		f[name] = func(n int, s string) (string, error) {
			if err := count(name, n); err != nil {
				return "", err
			}
			out := orig(n, s)
			if int64(len(out)) > b.max {
				return "", fmt.Errorf("%s %d: %w (%d bytes)", name, n, errOutputTooLarge, b.max)
			}
			return out, nil
		}
	}
}

// checkDepth refuses a TOML document nested deeper than maxDataDepth
// (arrays and inline tables), before the decoder recurses into it.
func checkDepth(b []byte) error {
	depth, maxDepth := 0, 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '#':
			for i < len(b) && b[i] != '\n' {
				i++
			}
		case '"', '\'':
			quote := string(b[i : i+1])
			if bytes.HasPrefix(b[i:], []byte(strings.Repeat(quote, 3))) {
				end := bytes.Index(b[i+3:], []byte(strings.Repeat(quote, 3)))
				if end < 0 {
					return nil // the decoder reports it
				}
				i += 3 + end + 2
				continue
			}
			for i++; i < len(b) && b[i] != c && b[i] != '\n'; i++ {
				if c == '"' && b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			if depth++; depth > maxDepth {
				maxDepth = depth
			}
			if maxDepth > maxDataDepth {
				return fmt.Errorf("nested more than %d deep; refused", maxDataDepth)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}
