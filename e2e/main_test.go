//go:build e2e

// Package e2e runs initbox as users do: its FROM scratch image in
// containers, as Kubernetes init containers on the pod harness
// (harness_test.go), and the docker-compose example. Run with
// `make e2e` (build tag e2e). Docker must be reachable: the tests fail, never
// skip, without it.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// images are the tags built for this run by `make images`.
var images struct {
	initbox, busybox, testbin, postgres, vault, minio, seeddata string
}

// repoRoot is the module root (this package lives in e2e/).
var repoRoot = func() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}()

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

func setup(m *testing.M) int {
	flag.Parse()
	// The reaper image cannot be pulled here; every test removes what it
	// creates (t.Cleanup).
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// The engine is local; without this, testcontainers guesses the host of
	// published ports from the default gateway (a TEST-NET address here).
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	if !testing.Verbose() {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err == nil {
		_, err = cli.Ping(ctx, client.PingOptions{})
		cli.Close()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: Docker is unreachable (%v): these tests need a running Docker engine\n", err)
		return 1
	}
	// One build per run; `make images` skips images whose content is
	// unchanged (tags keyed by content).
	tag := fmt.Sprintf("e2e-%d", os.Getpid())
	build := exec.Command("make", "-s", "images", "TAG="+tag)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: make images: %v\n%s", err, out)
		return 1
	}
	images.initbox, images.busybox, images.testbin = "initbox:"+tag, "initbox-busybox:"+tag, "initbox-testbin:"+tag
	images.postgres, images.vault, images.minio = "initbox-postgres:"+tag, "initbox-vault:"+tag, "initbox-minio:"+tag
	images.seeddata = "initbox-seeddata:" + tag
	defer func() {
		// Drop this run's tags; the content-keyed tags stay as the cache.
		exec.Command("docker", "rmi", images.initbox, images.busybox, images.testbin, images.postgres, images.vault, images.minio, images.seeddata).Run()
	}()
	return m.Run()
}

// logsContain fails the test unless every want is in logs.
func logsContain(t *testing.T, what, logs string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(logs, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, logs)
		}
	}
}
