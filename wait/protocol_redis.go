//go:build !initbox_no_redis

package wait

import "github.com/initbox/initbox/wait/redis"

func init() { register(protocol{new: redis.New, password: true}, "redis", "rediss") }
