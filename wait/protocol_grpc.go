//go:build !initbox_no_grpc

package wait

import "github.com/initbox/initbox/wait/grpc"

func init() { register(protocol{new: grpc.New}, "grpc", "grpcs") }
