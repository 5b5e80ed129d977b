//go:build !initbox_no_postgres

package wait

import "github.com/initbox/initbox/wait/postgres"

func init() { register(protocol{new: postgres.New, password: true}, "postgres", "postgresql") }
