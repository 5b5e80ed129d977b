package vault

import (
	"github.com/urfave/cli/v2"

	"github.com/initbox/initbox/internal/clix"
)

// Flags binds the Vault options: every flag is --vault-… and
// INITBOX_<COMMAND>_VAULT_….
func (o *Options) Flags(command string) []cli.Flag {
	env := func(flag string) []string { return clix.Env(command, flag) }
	return []cli.Flag{
		&cli.StringFlag{Name: "vault-addr", Usage: "Vault address (default: VAULT_ADDR)", EnvVars: env("vault-addr"), Destination: &o.Address, Category: "Vault"},
		&cli.StringFlag{Name: "vault-namespace", Usage: "Vault Enterprise namespace (default: VAULT_NAMESPACE)", EnvVars: env("vault-namespace"), Destination: &o.Namespace, Category: "Vault"},
		&cli.StringFlag{Name: "vault-auth", Value: o.Auth, Usage: "login method: token, kubernetes, approle or jwt", EnvVars: env("vault-auth"), Destination: &o.Auth, Category: "Vault"},
		&cli.StringFlag{Name: "vault-auth-mount", Usage: "where the auth method is mounted (default: its name)", EnvVars: env("vault-auth-mount"), Destination: &o.AuthMount, Category: "Vault"},
		&cli.StringFlag{Name: "vault-role", Usage: "Vault role for kubernetes and jwt login", EnvVars: env("vault-role"), Destination: &o.Role, Category: "Vault"},
		&cli.StringFlag{Name: "vault-token-file", Usage: "file holding a Vault token (default: VAULT_TOKEN)", EnvVars: env("vault-token-file"), Destination: &o.TokenFile, Category: "Vault"},
		&cli.StringFlag{Name: "vault-jwt-file", Usage: "JWT for jwt login; for kubernetes the service account token (default " + DefaultServiceAccountToken + ")", EnvVars: env("vault-jwt-file"), Destination: &o.JWTFile, Category: "Vault"},
		&cli.StringFlag{Name: "vault-role-id", Usage: "AppRole role id", EnvVars: env("vault-role-id"), Destination: &o.RoleID, Category: "Vault"},
		&cli.StringFlag{Name: "vault-role-id-file", Usage: "file holding the AppRole role id", EnvVars: env("vault-role-id-file"), Destination: &o.RoleIDFile, Category: "Vault"},
		&cli.StringFlag{Name: "vault-secret-id-file", Usage: "file holding the AppRole secret id", EnvVars: env("vault-secret-id-file"), Destination: &o.SecretIDFile, Category: "Vault"},
		&cli.BoolFlag{Name: "vault-secret-id-wrapped", Usage: "the secret id file holds a response-wrapping token to unwrap", EnvVars: env("vault-secret-id-wrapped"), Destination: &o.SecretIDWrapped, Category: "Vault"},
		&cli.StringFlag{Name: "vault-token-out", Usage: "hand the login token to the application in this file (0600) instead of revoking it", EnvVars: env("vault-token-out"), Destination: &o.TokenOut, Category: "Vault"},
	}
}
