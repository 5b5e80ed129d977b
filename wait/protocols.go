package wait

import (
	"maps"
	"slices"
	"strings"

	"github.com/initbox/initbox/wait/check"
)

// Protocol checkers live in packages of their own (wait/postgres, …) and
// register here from build-tagged files (protocol_postgres.go, …), so that a
// build tag such as initbox_no_postgres leaves a driver out of the binary.
type protocol struct {
	new check.Factory
	// password: the scheme takes a password (#password-file, --password-file).
	password bool
}

var protocols = map[string]protocol{}

func register(p protocol, schemes ...string) {
	for _, s := range schemes {
		protocols[s] = p
	}
}

// coreSchemes are built into the wait package.
var coreSchemes = []string{"tcp", "http", "https", "unix", "file", "dns"}

// knownSchemes lists every scheme of this build, for error messages.
func knownSchemes() string {
	all := append(slices.Clone(coreSchemes), slices.Sorted(maps.Keys(protocols))...)
	for i, s := range all {
		all[i] = s + "://"
	}
	return strings.Join(all, ", ")
}
