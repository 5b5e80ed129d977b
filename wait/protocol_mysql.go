//go:build !initbox_no_mysql

package wait

import "github.com/initbox/initbox/wait/mysql"

func init() { register(protocol{new: mysql.New, password: true}, "mysql", "mariadb") }
