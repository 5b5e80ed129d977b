package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

func goList(t *testing.T, args ...string) []goPackage {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// Every dependency is a cost in the image everyone pulls: test-only modules
// must never reach the binary.
func TestBinaryDependencies(t *testing.T) {
	forbidden := []string{
		"github.com/testcontainers/", "github.com/moby/", "github.com/docker/", "google.golang.org/grpc", "google.golang.org/protobuf",
		"github.com/redis/go-redis", "k8s.io/",
		"golang.org/x/net/dns/dnsmessage", "github.com/initbox/initbox/internal/testpki", "github.com/initbox/initbox/internal/testnet", "github.com/initbox/initbox/internal/testcorpus",
		"github.com/initbox/initbox/e2e", "net/http/pprof", "testing",
	}
	for _, dep := range goList(t, ".")[0].Deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f) {
				t.Errorf("the binary depends on %s", dep)
			}
		}
	}
}

// Command packages hold Config and logic; only their cli.go adapter (and
// internal/app, internal/clix) may know about urfave/cli.
func TestOnlyCLIAdaptersImportCLI(t *testing.T) {
	const cliPkg = "github.com/urfave/cli/v2"
	allowed := map[string]bool{
		"github.com/initbox/initbox/internal/app":  true,
		"github.com/initbox/initbox/internal/clix": true,
	}
	importRE := regexp.MustCompile(`"` + regexp.QuoteMeta(cliPkg) + `"`)
	for _, p := range goList(t, "github.com/initbox/initbox/...") {
		if allowed[p.ImportPath] {
			continue
		}
		for _, f := range p.GoFiles {
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if importRE.Match(src) && f != "cli.go" {
				t.Errorf("%s/%s imports urfave/cli; only cli.go may", p.ImportPath, f)
			}
		}
	}
}

// The image gets one symlink per name in the Makefile's LINKS; each must be
// a name the binary dispatches on.
func TestMakefileLinksAreDispatched(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LINKS\s*:=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no LINKS in the Makefile")
	}
	for _, link := range strings.Fields(string(m[1])) {
		path := filepath.Join(t.TempDir(), link)
		if err := os.Symlink(filepath.Join(binDir, "initbox"), path); err != nil {
			t.Fatal(err)
		}
		// A dispatched link shows its command's help; an unknown name would
		// fall back to the app's, which lists the commands.
		out, err := exec.Command(path, "--help").CombinedOutput()
		if err != nil || strings.Contains(string(out), "COMMANDS:") {
			t.Errorf("%s is not dispatched to a command: %v\n%s", link, err, out)
		}
	}
}

// Heavy checkers can be compiled out; the smaller binary says which schemes
// it has instead of failing obscurely.
func TestBuildTagsCompileCheckersOut(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "initbox-small")
	tags := "initbox_no_postgres,initbox_no_mysql,initbox_no_redis,initbox_no_grpc,initbox_no_k8s,initbox_no_vault,initbox_no_s3,initbox_no_git"
	build := exec.Command("go", "build", "-tags", tags, "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build with %s: %v\n%s", tags, err, out)
	}
	out, err := exec.Command(bin, "wait", "postgres://db:5432/app").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("postgres:// in a build without it: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `unknown scheme \"postgres\"`) || !strings.Contains(string(out), "tcp://") {
		t.Errorf("message should name the scheme and list what this build has:\n%s", out)
	}
	out, _ = exec.Command(bin, "fetch", "vault://secret/app", "--out", "/tmp/x.json").CombinedOutput()
	if !strings.Contains(string(out), `unknown scheme \"vault\"`) {
		t.Errorf("fetch vault:// in a build without it:\n%s", out)
	}
	out, _ = exec.Command(bin, "fetch", "s3://bucket/app/", "--out", "/tmp/x/").CombinedOutput()
	if !strings.Contains(string(out), `unknown scheme \"s3\"`) {
		t.Errorf("fetch s3:// in a build without it:\n%s", out)
	}
	out, _ = exec.Command(bin, "seed", "git+https://example.com/repo.git", t.TempDir()).CombinedOutput()
	if !strings.Contains(string(out), "git sources are not in this build") {
		t.Errorf("seed git in a build without it:\n%s", out)
	}
	for _, dep := range goList(t, "-tags", tags, ".")[0].Deps {
		for _, heavy := range []string{"github.com/jackc/pgx", "github.com/go-sql-driver/mysql", "github.com/hashicorp/",
			"github.com/initbox/initbox/wait/k8s", "github.com/initbox/initbox/wait/grpc", "github.com/initbox/initbox/wait/redis",
			"github.com/initbox/initbox/fetch/vault", "github.com/aws/", "github.com/initbox/initbox/fetch/s3", "github.com/go-git/",
			"github.com/initbox/initbox/seed/git", "github.com/initbox/initbox/seed/s3", "github.com/initbox/initbox/internal/awss3"} {
			if strings.HasPrefix(dep, heavy) {
				t.Errorf("%s is still linked with %s", dep, tags)
			}
		}
	}
}

// The release build (the Makefile's BUILD_TAGS) leaves out urfave/cli's
// documentation generators: nothing in initbox writes man pages, and their
// package inits ran on every start.
func TestReleaseBuildHasNoDocGenerators(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var tags string
	for line := range strings.Lines(string(mk)) {
		if v, ok := strings.CutPrefix(line, "BUILD_TAGS ?="); ok {
			tags = strings.TrimSpace(v)
		}
	}
	if !strings.Contains(tags, "urfave_cli_no_docs") {
		t.Fatalf("Makefile BUILD_TAGS = %q, want urfave_cli_no_docs", tags)
	}
	for _, dep := range goList(t, "-tags", tags, ".")[0].Deps {
		if strings.Contains(dep, "md2man") || strings.Contains(dep, "blackfriday") {
			t.Errorf("the release build links %s", dep)
		}
	}
}
