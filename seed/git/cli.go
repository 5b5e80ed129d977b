package git

import (
	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/clix"
)

// Flags binds the git options: every flag is --git-… and
// INITBOX_<COMMAND>_GIT_….
func (o *Options) Flags(command string) []cli.Flag {
	env := func(flag string) []string { return clix.Env(command, flag) }
	return []cli.Flag{
		&cli.StringFlag{Name: "git-ref", Usage: "branch, tag or full commit hash (default: the remote's HEAD)", EnvVars: env("git-ref"), Destination: &o.Ref, Category: "Git"},
		&cli.StringFlag{Name: "git-token-file", Usage: "over HTTPS: a file holding the token (sent as basic auth)", EnvVars: env("git-token-file"), Destination: &o.TokenFile, Category: "Git"},
		&cli.StringFlag{Name: "git-ssh-key-file", Usage: "over SSH: the private key", EnvVars: env("git-ssh-key-file"), Destination: &o.SSHKeyFile, Category: "Git"},
		&cli.StringFlag{Name: "git-known-hosts", Usage: "over SSH: known_hosts to check the host key against (required with a key)", EnvVars: env("git-known-hosts"), Destination: &o.KnownHosts, Category: "Git"},
		&cli.BoolFlag{Name: "git-submodules", Usage: "also check out the submodules' recorded commits, recursively (cloned whole; credentials go only to the repository's own host)", EnvVars: env("git-submodules"), Destination: &o.Submodules, Category: "Git"},
	}
}
