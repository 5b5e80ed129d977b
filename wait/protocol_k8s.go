//go:build !initbox_no_k8s

package wait

import "github.com/initbox/initbox/wait/k8s"

func init() { register(protocol{new: k8s.New}, "k8s", "kubernetes") }
