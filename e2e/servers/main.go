// Command vault is HashiCorp Vault built from its Go module, for initbox's
// tests: no registry is reachable here, so the server is compiled like any
// other dependency. The pin (github.com/hashicorp/vault v1.21.0) is the one
// known to compile as a dependency; see docs/design.md §9.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
