package fetch

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// An env file cannot mean the same to every reader, so each format names
// its readers and writes their grammar exactly, or refuses a value it
// cannot hold with a message that names the key, the readers and the
// format that can. Whatever the format, a file initbox writes never runs
// anything when a shell sources it: no value can put a backtick, $( or
// ${ where sh would act on it.
//
// | format   | readers                                                        |
// | dotenv   | docker compose v2 (compose-go), docker-compose v1 and          |
// |          | python-dotenv, godotenv — all four read every value the same   |
// | shell    | sh, bash, dash: `. file` or `set -a; . file` (export NAME='…') |
// | env-file | docker run --env-file (no quoting: the line is the value)      |
// | systemd  | systemd's EnvironmentFile=                                      |

// Env-file formats, beside the ones in format.go.
const (
	Shell   = "shell"    // export NAME='value' for sh
	EnvFile = "env-file" // docker run --env-file: NAME=value, literal
	Systemd = "systemd"  // EnvironmentFile=
)

// dotenvReaders names the readers of --format dotenv, for messages.
const dotenvReaders = "docker compose, docker-compose v1, python-dotenv and godotenv"

// dotenvQuote writes a value in the one form docker compose v2, docker-
// compose v1 and python-dotenv, and godotenv read alike, found by feeding
// them each byte class (fetch/envfile_test.go keeps it so):
//   - bare, for letters, digits and _ . , / : @ % + = - \ (and empty);
//   - single quotes, when there is no ' , no CR (python-dotenv reads one as
//     a newline), no ${ (python-dotenv expands it in every quoting style),
//     no \\ and no \ at the end (python-dotenv unescapes \\ and \' there);
//   - double quotes, with \\, \n and \r escaped, when there is no " (godotenv
//     keeps \"), no backtick, no $ before a name, { or ( (godotenv and
//     compose expand $NAME; sh would run $( and `), no \ at the end.
//
// Anything else no dotenv form holds for all four: refused.
func dotenvQuote(v string) (string, error) {
	if !utf8.ValidString(v) {
		return "", errors.New("the value is not UTF-8, which " + dotenvReaders + " cannot read alike: use --format shell, json or dir")
	}
	if i := strings.IndexFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f }); i >= 0 {
		return "", fmt.Errorf("the value has the control character %U, which %s cannot read alike: use --format json or dir", rune(v[i]), dotenvReaders)
	}
	bare := true
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(`_.,/:@%+=-\`, r)) {
			bare = false
			break
		}
	}
	if bare {
		return v, nil
	}
	single := singleBlocker(v)
	if single == "" {
		return "'" + v + "'", nil
	}
	double := doubleBlocker(v)
	if double == "" {
		return `"` + strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(v) + `"`, nil
	}
	why := single + " and " + double
	if single == double {
		why = single
	}
	return "", fmt.Errorf("the value has %s: no dotenv form reads the same in %s; use --format shell (sh), json or dir", why, dotenvReaders)
}

// singleBlocker says why single quotes cannot hold v for every dotenv
// reader ("" = they can).
func singleBlocker(v string) string {
	switch {
	case strings.Contains(v, "'"):
		return "a '"
	case strings.Contains(v, "\r"):
		return "a carriage return (python-dotenv reads one in quotes as a newline)"
	case strings.Contains(v, "${"):
		return "${ (python-dotenv and docker-compose v1 expand it in every quoting style)"
	case strings.Contains(v, `\\`):
		return `\\ (python-dotenv unescapes it in single quotes)`
	case strings.HasSuffix(v, `\`):
		return `a \ at the end (python-dotenv and godotenv read it as escaping the closing quote)`
	}
	return ""
}

// doubleBlocker says why double quotes cannot hold v ("" = they can).
func doubleBlocker(v string) string {
	switch {
	case strings.Contains(v, `"`):
		return `a " (godotenv keeps the \ of \")`
	case strings.Contains(v, "`"):
		return "a backtick (a shell sourcing the file would run it)"
	case strings.Contains(v, "${"):
		return "${ (python-dotenv and docker-compose v1 expand it in every quoting style)"
	case expands(v):
		return "$ before a name or ( (godotenv and docker compose expand $NAME in double quotes; a shell would run $( )"
	case strings.HasSuffix(v, `\`):
		return `a \ at the end (python-dotenv and godotenv read it as escaping the closing quote)`
	}
	return ""
}

// expands reports whether $ starts an expansion somewhere in v: before a
// letter, _, { or (.
func expands(v string) bool {
	for i := 0; i+1 < len(v); i++ {
		if v[i] == '$' {
			c := v[i+1]
			if c == '_' || c == '{' || c == '(' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				return true
			}
		}
	}
	return false
}

// shellQuote writes a value for sh to read byte for byte: in single
// quotes, where nothing is special, with ' as '\” . Only NUL cannot be
// held (no shell variable can).
func shellQuote(v string) (string, error) {
	if strings.IndexByte(v, 0) >= 0 {
		return "", errors.New("the value has a NUL byte, which no shell variable can hold: use --format json or dir")
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'", nil
}

// maxEnvFileLine is the longest line docker's --env-file reads (a
// bufio.Scanner's token, the newline included).
const maxEnvFileLine = 64 << 10

// envFileValue writes a value for docker run --env-file, which takes the
// rest of the line as the value, quotes and all, and reads lines of at most
// 64 KiB: no newline, no NUL, no carriage return at the end (the scanner
// drops it), valid UTF-8 (docker refuses the file otherwise).
func envFileValue(name, v string) (string, error) {
	switch {
	case strings.ContainsAny(v, "\n\x00"):
		return "", errors.New("the value has a newline or a NUL byte, which docker's --env-file cannot hold (one line per variable): use --format dotenv, shell, json or dir")
	case strings.HasSuffix(v, "\r"):
		return "", errors.New("the value ends in a carriage return, which docker's --env-file drops: use --format dotenv, shell, json or dir")
	case !utf8.ValidString(v):
		return "", errors.New("the value is not UTF-8, and docker refuses such an --env-file: use --format shell, json or dir")
	case len(name)+1+len(v)+1 > maxEnvFileLine:
		return "", fmt.Errorf("the line would be %d bytes, and docker's --env-file reads at most %d: use --format dotenv, shell, json or dir", len(name)+len(v)+2, maxEnvFileLine)
	}
	return v, nil
}

// systemdQuote writes a value for systemd's EnvironmentFile=: single
// quotes (everything literal) when it has no ' ; else double quotes, in
// which systemd unescapes \ before " \ ` $ . Values must be UTF-8 (systemd
// ignores the line otherwise) and hold no NUL (the file is read as a C
// string).
func systemdQuote(v string) (string, error) {
	switch {
	case strings.IndexByte(v, 0) >= 0:
		return "", errors.New("the value has a NUL byte, which systemd cannot read: use --format json or dir")
	case !utf8.ValidString(v):
		return "", errors.New("the value is not UTF-8, and systemd ignores such a line: use --format shell, json or dir")
	case !strings.Contains(v, "'"):
		return "'" + v + "'", nil
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`).Replace(v) + `"`, nil
}
