package fetch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/initbox/initbox/internal/testcorpus"
	"github.com/initbox/initbox/internal/testserver"
)

// readerFunc reads an env file as one reader does: name → value.
type readerFunc func(t *testing.T, path string, names []string) map[string]string

var buildReaders = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("initbox-readers-%d", os.Getpid()))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "e2e", "readers")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building e2e/readers: %v\n%s", err, out)
	}
	return bin, nil
})

// goReader is one of e2e/readers: godotenv, compose-go, docker's kvfile.
func goReader(name string) readerFunc {
	return func(t *testing.T, path string, _ []string) map[string]string {
		bin, err := buildReaders()
		if err != nil {
			t.Fatal(err)
		}
		return jsonReader(t, name, exec.Command(bin, name, path))
	}
}

func jsonReader(t *testing.T, name string, cmd *exec.Cmd) map[string]string {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s refused the file: %v\n%.2000s", name, err, stderr.String())
	}
	var m map[string]string
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// pythonDotenv is Debian's python3-dotenv, and docker-compose v1's own
// env_file reader (which calls it with interpolation on).
func pythonDotenv(script string) readerFunc {
	return func(t *testing.T, path string, _ []string) map[string]string {
		testserver.Needs(t, "python3-dotenv and docker-compose (Debian)")
		return jsonReader(t, "python", exec.Command("/usr/bin/python3", "-c", script, path))
	}
}

// shellReader sources the file with a shell, as an entrypoint does, and
// prints each variable NUL-terminated.
func shellReader(sh, prefix string) readerFunc {
	return func(t *testing.T, path string, names []string) map[string]string {
		var script strings.Builder
		fmt.Fprintf(&script, "%s . %q || exit 9\n", prefix, path)
		for _, n := range names {
			fmt.Fprintf(&script, "printf '%%s\\0' \"$%s\"\n", n)
		}
		cmd := exec.Command(sh, "-c", script.String())
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s could not source the file: %v", sh, err)
		}
		got := strings.Split(string(out), "\x00")
		m := map[string]string{}
		for i, n := range names {
			if i < len(got) {
				m[n] = got[i]
			}
		}
		return m
	}
}

// systemdReader follows systemd's own EnvironmentFile= parser (the state
// machine of src/basic/env-file.c: whitespace and comments before a key;
// unquoted values with \ escapes and trailing whitespace dropped; single
// quotes literal; double quotes unescaping \ before " \ ` $, keeping it
// before anything else, and eating an escaped newline). systemd does not
// run here; these are its rules.
func systemdReader(t *testing.T, path string, _ []string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i] // read as a C string
	}
	const (
		preKey = iota
		key
		preValue
		value
		valueEscape
		single
		double
		doubleEscape
		comment
	)
	m := map[string]string{}
	state := preKey
	var k, v []byte
	lastWS := -1
	push := func() {
		kk := strings.TrimRight(string(k), " \t\n\r")
		vv := string(v)
		if state == value && lastWS >= 0 {
			vv = vv[:lastWS]
		}
		m[kk] = vv
		k, v, lastWS = nil, nil, -1
	}
	for _, c := range b {
		switch state {
		case preKey:
			switch {
			case c == '#' || c == ';':
				state = comment
			case !strings.ContainsRune(" \t\n\r", rune(c)):
				state, k = key, append(k, c)
			}
		case key:
			switch {
			case c == '\n' || c == '\r':
				state, k = preKey, nil
			case c == '=':
				state, lastWS = preValue, -1
			default:
				k = append(k, c)
			}
		case preValue:
			switch {
			case c == '\n' || c == '\r':
				push()
				state = preKey
			case c == '\'':
				state = single
			case c == '"':
				state = double
			case c == '\\':
				state = valueEscape
			case !strings.ContainsRune(" \t\n\r", rune(c)):
				state, v = value, append(v, c)
			}
		case value:
			switch {
			case c == '\n' || c == '\r':
				push()
				state = preKey
			case c == '\\':
				state, lastWS = valueEscape, -1
			default:
				if !strings.ContainsRune(" \t\n\r", rune(c)) {
					lastWS = -1
				} else if lastWS < 0 {
					lastWS = len(v)
				}
				v = append(v, c)
			}
		case valueEscape:
			state = value
			if c != '\n' && c != '\r' {
				v = append(v, c)
			}
		case single:
			if c == '\'' {
				state = preValue
			} else {
				v = append(v, c)
			}
		case double:
			switch c {
			case '"':
				state = preValue
			case '\\':
				state = doubleEscape
			default:
				v = append(v, c)
			}
		case doubleEscape:
			state = double
			switch {
			case strings.ContainsRune("\"\\`$", rune(c)):
				v = append(v, c)
			case c != '\n':
				v = append(v, '\\', c)
			}
		case comment:
			if c == '\n' || c == '\r' {
				state = preKey
			}
		}
	}
	if state >= preValue && state <= doubleEscape {
		push()
	}
	return m
}

// The readers each format promises, and the formats' own words for why a
// value is refused.
var envFormats = []struct {
	format  string
	readers map[string]readerFunc
}{
	{Dotenv, map[string]readerFunc{
		"godotenv":                       goReader("godotenv"),
		"compose-go (docker compose v2)": goReader("compose"),
		"python-dotenv":                  pythonDotenv(`import dotenv,json,sys; print(json.dumps(dotenv.dotenv_values(sys.argv[1], interpolate=True)))`),
		"docker-compose v1":              pythonDotenv(`from compose.config.environment import env_vars_from_file; import json,sys; print(json.dumps(dict(env_vars_from_file(sys.argv[1]))))`),
	}},
	{Shell, map[string]readerFunc{
		"bash":          shellReader("bash", ""),
		"bash (set -a)": shellReader("bash", "set -a;"),
		"dash":          shellReader("dash", ""),
	}},
	{EnvFile, map[string]readerFunc{"docker --env-file (kvfile)": goReader("docker")}},
	{Systemd, map[string]readerFunc{"systemd EnvironmentFile=": systemdReader}},
}

// Every value of the corpus either reads back byte for byte in every
// reader its format promises, or is refused with a message that says which
// format can hold it; and no file, sourced by a shell, runs anything.
func TestEnvFormatsRoundTrip(t *testing.T) {
	canary := filepath.Join(t.TempDir(), "executed")
	values := testcorpus.SecretValues(canary)
	for _, f := range envFormats {
		t.Run(f.format, func(t *testing.T) {
			defer os.Remove(canary)
			held := map[string]any{}
			refused := 0
			for i, v := range values {
				name := fmt.Sprintf("V%04d", i)
				if _, err := encode(f.format, map[string]any{name: v}); err != nil {
					refused++
					if !strings.Contains(err.Error(), "use --format") || !strings.Contains(err.Error(), "name "+name+":") {
						t.Errorf("%q: refused without naming the key and a format that can: %v", v, err)
					}
					continue
				}
				held[name] = v
			}
			b, err := encode(f.format, held)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "app.env")
			os.WriteFile(path, b, 0o600)
			names := make([]string, 0, len(held))
			for n := range held {
				names = append(names, n)
			}
			sort.Strings(names)
			for reader, read := range f.readers {
				got := read(t, path, names)
				wrong := 0
				for _, n := range names {
					if g, ok := got[n]; !ok || g != held[n] {
						if wrong++; wrong <= 5 {
							t.Errorf("%s: %s = %q, want %q (written as %q)", reader, n, g, held[n], line(b, n))
						}
					}
				}
				if wrong > 5 {
					t.Errorf("%s: %d values differ", reader, wrong)
				}
			}
			// Sourced by a shell, a file runs nothing: each value alone (one
			// bad line can hide the next from the shell), then all.
			one := filepath.Join(t.TempDir(), "one.env")
			for _, n := range names {
				b, _ := encode(f.format, map[string]any{n: held[n]})
				os.WriteFile(one, b, 0o600)
				for _, sh := range []string{"bash", "dash"} {
					exec.Command(sh, "-c", "set -a; . "+one).Run()
					if _, err := os.Stat(canary); err == nil {
						t.Fatalf("%s, sourcing the %s file with %q, ran a command", sh, f.format, b)
					}
				}
			}
			t.Logf("%s: %d of %d values held byte for byte in %d readers, %d refused", f.format, len(held), len(values), len(f.readers), refused)
		})
	}
}

func line(b []byte, name string) string {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimPrefix(l, "export "), name+"=") {
			if len(l) > 120 {
				return l[:120] + "…"
			}
			return l
		}
	}
	return ""
}
