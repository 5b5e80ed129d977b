# initbox — every target CI and the README use. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
PKG       := github.com/initbox/initbox
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
# urfave_cli_no_docs: no man-page/markdown generator (go-md2man, blackfriday)
# in the binary: smaller, and their package inits gone from every start.
# Add initbox_no_<name> tags for smaller builds (README, Smaller builds).
BUILD_TAGS ?= urfave_cli_no_docs
# Names the binary answers to (internal/app links); a symlink each in the image.
LINKS     := wait-for fetch-config
TAG       ?= dev
IMAGE_NAME ?= initbox
IMAGE     := $(IMAGE_NAME):$(TAG)
BUSYBOX   ?= /bin/busybox
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# No registry here: the reaper image cannot be pulled; tests clean up themselves.
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: node compose-v2 render-peers fuzz help demo-images lint-tree deps-demo deps-test deps-bench short build test unit servers peers k8s-tools e2e lint image images image-postgres image-vault image-minio demo demo-sidecar demo-down bench clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build the static binary into build/initbox
	CGO_ENABLED=0 $(GO) build -trimpath -tags "$(BUILD_TAGS)" -ldflags "$(LDFLAGS)" -o build/initbox ./cmd/initbox

test: deps-test unit fuzz e2e ## everything: unit and integration tests against real servers, the fuzzers, then e2e on Docker (what CI runs)

# The fuzz targets of what stands between remote input and the disk, each
# for a bounded time (their committed corpora run in every go test too).
FUZZTIME ?= 20s
fuzz: ## run the name check's and the link resolver's fuzzers for $(FUZZTIME) each
	$(GO) test -run '^$$' -fuzz '^FuzzCheckName$$' -fuzztime $(FUZZTIME) ./internal/publish
	$(GO) test -run '^$$' -fuzz '^FuzzResolve$$' -fuzztime $(FUZZTIME) ./internal/publish

short: ## the tests that need no server, Docker or package (go test -short; under 2 minutes)
	$(GO) test -short -count=1 ./...

# Debian packages the targets need, each with the check that shows it is
# there. `make demo` and `make test` install what is missing when run as
# root, and otherwise print the one command to run.
PKG_busybox-static := test -x /bin/busybox
PKG_docker-compose := command -v docker-compose
PKG_postgresql     := compgen -G '/usr/lib/postgresql/*/bin/postgres'
PKG_mariadb-server := test -x /usr/sbin/mariadbd
PKG_redis-server   := test -x /usr/bin/redis-server
PKG_git            := command -v git
PKG_dash           := test -x /bin/dash
PKG_openjdk-17-jdk-headless := command -v java
PKG_wait-for-it    := command -v wait-for-it
PKG_awscli         := test -x /usr/bin/aws
PKG_rclone         := command -v rclone
PKG_time           := test -x /usr/bin/time
PKG_gettext-base   := command -v envsubst
PKG_python3-dotenv := /usr/bin/python3 -c 'import dotenv' 
PKG_runc           := command -v runc
PKG_containernetworking-plugins := test -x /usr/lib/cni/bridge
PKG_iptables       := command -v iptables
PKG_iproute2       := command -v ip
DEMO_PKGS  := busybox-static docker-compose
TEST_PKGS  := $(DEMO_PKGS) postgresql mariadb-server redis-server git openjdk-17-jdk-headless python3-dotenv dash gettext-base awscli runc containernetworking-plugins iptables iproute2
BENCH_PKGS := $(TEST_PKGS) wait-for-it awscli rclone time gettext-base

# need PACKAGES: install the missing ones (as root) or say how; then check
# that Docker answers. Packaged servers that start themselves are stopped:
# the tests start their own on free ports.
define need
	@missing=(); $(foreach p,$(1),{ $(PKG_$(p)); } >/dev/null 2>&1 || missing+=($(p));) \
	if (( $${#missing[@]} )); then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages; run: sudo apt-get install -y --no-install-recommends $${missing[*]}" >&2; exit 1; fi; \
	  echo "installing Debian packages: $${missing[*]}"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$${missing[@]}" >/dev/null; \
	  for s in postgresql mariadb redis-server; do service $$s stop >/dev/null 2>&1 || true; done; \
	fi; \
	docker info >/dev/null 2>&1 || { echo "Docker is unreachable: start the Docker engine (the demo and the e2e tests run on it)" >&2; exit 1; }
endef

deps-demo:
	$(call need,$(DEMO_PKGS))
deps-test:
	$(call need,$(TEST_PKGS))
deps-bench:
	$(call need,$(BENCH_PKGS))

unit: deps-test servers render-peers ## unit and integration tests (no Docker), with the race detector
	INITBOX_VAULT_BIN=$(CURDIR)/build/servers/vault INITBOX_MINIO_BIN=$(CURDIR)/build/servers/minio \
	  CGO_ENABLED=1 $(GO) test -count=1 -race ./...

# Real servers for the tests, built from their Go modules (no registry here).
# Rebuilt only when the pins in e2e/servers change (~8 min, ~5 GB the first time).
MINIO_PIN := v0.0.0-20260212201848-7aac2a2c5b7c

servers: build/servers/vault build/servers/minio build/kube/kube-apiserver ## build the test servers (Vault, MinIO, etcd and kube-apiserver) from their Go modules

# MinIO builds with `go install` at its pin, apart from our module graph. The
# binary's name carries the pin, so a new pin rebuilds it (~2-4 min).
build/servers/minio: build/servers/minio-$(MINIO_PIN)
	ln -sf minio-$(MINIO_PIN) $@

build/servers/minio-$(MINIO_PIN):
	mkdir -p build/servers/gobin
	GOBIN=$(CURDIR)/build/servers/gobin CGO_ENABLED=0 $(GO) install -trimpath -ldflags "-s -w" github.com/minio/minio@$(MINIO_PIN)
	mv build/servers/gobin/minio $@

# A real Kubernetes control plane for the k8s:// tests: etcd v3.6.4 and
# kube-apiserver v1.34.4 from e2e/kube, whose go.mod requires
# k8s.io/kubernetes and replaces its staging modules with their published
# v0.34.4 (go install refuses a module with replace directives). Cold
# ~5 min on 2 cores; rebuilt when e2e/kube's go.sum changes.
build/kube/kube-apiserver: e2e/kube/go.mod e2e/kube/go.sum
	mkdir -p build/kube/out
	cd e2e/kube && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(CURDIR)/build/kube/out/ k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3
	mv build/kube/out/server build/kube/etcd
	mv build/kube/out/kube-apiserver $@

# A real node for the e2e tests: kubelet, kube-controller-manager and
# kube-scheduler from e2e/kube, containerd (its CRI plugin built in), ctr
# and the runc shim from containerd's module; runc and the CNI plugins come
# from Debian. Cold ~5 min on 2 cores.
CONTAINERD_PIN := v2.2.9
node: build/kube/kubelet build/kube/containerd-$(CONTAINERD_PIN)

build/kube/kubelet: e2e/kube/go.mod e2e/kube/go.sum
	mkdir -p build/kube/out
	cd e2e/kube && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(CURDIR)/build/kube/out/ k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
	mv build/kube/out/kube-controller-manager build/kube/out/kube-scheduler build/kube/
	mv build/kube/out/kubelet $@

build/kube/containerd-$(CONTAINERD_PIN):
	mkdir -p build/kube/gobin
	GOBIN=$(CURDIR)/build/kube/gobin CGO_ENABLED=0 $(GO) install -trimpath -ldflags "-s -w" github.com/containerd/containerd/v2/cmd/containerd@$(CONTAINERD_PIN) github.com/containerd/containerd/v2/cmd/ctr@$(CONTAINERD_PIN) github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$(CONTAINERD_PIN)
	mv build/kube/gobin/containerd build/kube/gobin/ctr build/kube/gobin/containerd-shim-runc-v2 build/kube/
	touch $@

build/servers/vault: e2e/servers/go.mod e2e/servers/go.sum e2e/servers/main.go
	mkdir -p build/servers
	cd e2e/servers && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(CURDIR)/$@.tmp . && mv $(CURDIR)/$@.tmp $(CURDIR)/$@

e2e: deps-test k8s-tools compose-v2 node ## end-to-end tests: images, the pod harness, docker-compose, helm and kustomize (needs Docker)
	$(GO) test -tags e2e -count=1 -timeout 30m -v ./e2e/ 2>&1 | grep -Ev '^(20[0-9]{2}/|\s*$$)' ; exit $${PIPESTATUS[0]}

# The tree holds source, never build output: no tracked file over 1 MiB, no
# binary executable (ELF, Mach-O, PE, wasm), and an executable bit only on a
# script (#!).
lint-tree:
	@bad=0; while IFS= read -r -d '' f; do \
	  [ -f "$$f" ] || continue; \
	  size=$$(stat -c %s "$$f"); \
	  if [ "$$size" -gt 1048576 ]; then echo "lint: $$f is $$size bytes (over 1 MiB): build output or data does not belong in git"; bad=1; fi; \
	  magic=$$(head -c 4 "$$f" | od -An -tx1 | tr -d ' \n'); \
	  case "$$magic" in 7f454c46|cffaedfe|cefaedfe|feedface|feedfacf|0061736d|4d5a*) echo "lint: $$f is a binary executable: remove it (git rm --cached) and build it instead"; bad=1;; esac; \
	  if [ -x "$$f" ] && [ "$$(head -c 2 "$$f")" != '#!' ]; then echo "lint: $$f is executable but not a script: chmod -x it"; bad=1; fi; \
	done < <(git ls-files -z); exit $$bad

lint: lint-tree ## the tree check (no binaries, nothing over 1 MiB), gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags e2e ./e2e/

# build-image DOCKERFILE CONTEXT NAME: build CONTEXT under a tag keyed by its
# content (skipped when that tag exists), then tag it NAME:$(TAG).
define build-image
	cp $(1) $(2)/Dockerfile
	tag=$$(cd $(2) && tar -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner . | sha256sum | cut -c1-16); \
	if docker image inspect $(3):$$tag >/dev/null 2>&1; then echo "$(3):$$tag is up to date"; \
	else out=$$(docker build --build-arg VERSION=$(VERSION) -t $(3):$$tag $(2) 2>&1) || { echo "$$out"; exit 1; }; echo "built $(3):$$tag"; fi; \
	docker tag $(3):$$tag $(3):$(TAG)
endef

image: build ## build the initbox image (FROM scratch, nothing pulled) as $(IMAGE)
	rm -rf build/image && mkdir -p build/image/rootfs/usr/local/bin
	cp build/initbox build/image/rootfs/initbox
	for l in initbox $(LINKS); do ln -s /initbox build/image/rootfs/usr/local/bin/$$l; done
	$(call build-image,images/Dockerfile,build/image,$(IMAGE_NAME))
	@docker image inspect $(IMAGE) --format '$(IMAGE): {{.Size}} bytes'

# The images the demo runs: initbox, the busybox app, testbin (uploads to
# MinIO), Vault and MinIO.
demo-images: image
	@test -x $(BUSYBOX) || { echo "$(BUSYBOX) missing: apt-get install busybox-static"; exit 1; }
	rm -rf build/busybox && mkdir -p build/busybox/rootfs/bin build/busybox/rootfs/tmp
	chmod 1777 build/busybox/rootfs/tmp
	cp $(BUSYBOX) build/busybox/rootfs/bin/busybox
	for a in $$($(BUSYBOX) --list); do [ "$$a" = busybox ] || ln -s busybox build/busybox/rootfs/bin/$$a; done
	$(call build-image,images/busybox.Dockerfile,build/busybox,initbox-busybox)
	rm -rf build/testbin && mkdir -p build/testbin/rootfs
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o build/testbin/rootfs/testbin ./e2e/testbin
	$(call build-image,images/testbin.Dockerfile,build/testbin,initbox-testbin)
	$(MAKE) -s image-vault image-minio

images: demo-images ## the initbox image plus every test image (busybox app, testbin, seeddata, PostgreSQL, Vault, MinIO)
	rm -rf build/seeddata && mkdir -p build/seeddata/rootfs
	cp build/initbox build/seeddata/rootfs/initbox
	cp -a e2e/testdata/seed-data build/seeddata/rootfs/seed-data
	e2e/testdata/make-repo.sh $(CURDIR)/build/seeddata/rootfs/repo.git
	$(call build-image,images/seeddata.Dockerfile,build/seeddata,initbox-seeddata)
	$(MAKE) -s image-postgres

PGBIN = $(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin)))

image-vault: build/servers/vault ## the e2e Vault image, from the Vault built by `make servers`
	rm -rf build/vault && mkdir -p build/vault/rootfs/tmp && chmod 1777 build/vault/rootfs/tmp
	cp build/servers/vault build/vault/rootfs/vault
	$(call build-image,images/vault.Dockerfile,build/vault,initbox-vault)

image-minio: build/servers/minio ## the e2e MinIO image, from the MinIO built by `make servers`
	rm -rf build/minio && mkdir -p build/minio/rootfs/tmp build/minio/rootfs/data && chmod 1777 build/minio/rootfs/tmp build/minio/rootfs/data
	cp build/servers/minio build/minio/rootfs/minio
	$(call build-image,images/minio.Dockerfile,build/minio,initbox-minio)

image-postgres: ## the e2e PostgreSQL image, from Debian's postgresql package
	@test -n "$(PGBIN)" || { echo "PostgreSQL missing: apt-get install postgresql (make test installs it)"; exit 1; }
	rm -rf build/postgres && mkdir -p build/postgres/rootfs/etc
	cp -a build/busybox/rootfs/. build/postgres/rootfs/
	tar -C / -c $(patsubst /%,%,$(PGBIN)/postgres $(PGBIN)/initdb $(PGBIN)/pg_ctl $(dir $(PGBIN))lib \
	  $(subst /lib/postgresql/,/share/postgresql/,$(dir $(PGBIN))) /usr/share/zoneinfo) | tar -C build/postgres/rootfs -x
	tar -C / -ch $$(ldd $(PGBIN)/postgres $(PGBIN)/initdb $(PGBIN)/pg_ctl | awk '/=>/ {print $$3} /ld-linux/ {print $$1}' | sort -u | sed 's|^/||') \
	  | tar -C build/postgres/rootfs -x
	printf 'root:x:0:0::/:/bin/sh\npostgres:x:999:999::/tmp:/bin/sh\n' > build/postgres/rootfs/etc/passwd
	printf 'root:x:0:\npostgres:x:999:\n' > build/postgres/rootfs/etc/group
	cp images/postgres-entrypoint.sh build/postgres/rootfs/entrypoint.sh
	$(call build-image,images/postgres.Dockerfile,build/postgres,initbox-postgres)

COMPOSE := docker-compose -p initbox-demo -f examples/compose/docker-compose.yml

demo: deps-demo demo-images ## run the bootstrap chain in docker-compose and show what the app received
	-$(COMPOSE) down -v --remove-orphans >/dev/null 2>&1
	$(COMPOSE) up -d
	@echo "--- waiting for the app to finish (the dependency comes up late on purpose)"
	@docker wait $$($(COMPOSE) ps -q app) >/dev/null
	@for s in api wait vault-seed s3-seed fetch fetch-s3 render seed app; do echo "--- $$s:"; $(COMPOSE) logs --no-color --no-log-prefix $$s | sed 's/^/  /'; done
	@echo "--- the app's exit code: $$(docker inspect -f '{{.State.ExitCode}}' $$($(COMPOSE) ps -q app))"
	@echo "--- 'make demo-down' removes it; 'docker-compose -p initbox-demo -f examples/compose/docker-compose.yml logs' shows it again"

SIDECAR := docker-compose -p initbox-sidecar -f examples/compose/sidecar/docker-compose.yml

demo-sidecar: deps-demo demo-images ## fetch --watch as a sidecar: the app shows its database credentials rotating (40 s)
	$(MAKE) -s image-postgres
	-$(SIDECAR) down -v --remove-orphans >/dev/null 2>&1
	$(SIDECAR) up -d app
	@sleep 40; $(SIDECAR) logs --no-color --no-log-prefix app | sed 's/^/  /'
	$(SIDECAR) down -v --remove-orphans --timeout 5

demo-down: ## remove the demo's containers and volumes
	$(COMPOSE) down -v --remove-orphans

# Peer tools for `make bench` that come from Go modules.
CONSUL_TEMPLATE_PIN := v0.41.1
HELM_PIN := v3.22.0
KUSTOMIZE_PIN := v5.7.1
A8M_ENVSUBST_PIN := v1.4.3
peers: build/peers/consul-template-$(CONSUL_TEMPLATE_PIN) build/peers/helm-$(HELM_PIN) ## build the Go peer tools of make bench (consul-template, helm)
	ln -sf consul-template-$(CONSUL_TEMPLATE_PIN) build/peers/consul-template
	ln -sf helm-$(HELM_PIN) build/peers/helm

# The e2e tests render the Helm library chart with helm (built from its
# module) and the kustomize components with `kubectl kustomize`, or with
# kustomize built from its module where the machine has no kubectl.
k8s-tools: build/peers/helm-$(HELM_PIN)
	ln -sf helm-$(HELM_PIN) build/peers/helm
	@command -v kubectl >/dev/null || $(MAKE) --no-print-directory build/peers/kustomize

build/peers/kustomize: build/peers/kustomize-$(KUSTOMIZE_PIN)
	ln -sf kustomize-$(KUSTOMIZE_PIN) $@

build/peers/kustomize-$(KUSTOMIZE_PIN):
	mkdir -p build/peers/gobin
	GOBIN=$(CURDIR)/build/peers/gobin CGO_ENABLED=0 $(GO) install -trimpath -ldflags "-s -w" sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_PIN)
	mv build/peers/gobin/kustomize $@

# The render tests compare initbox side by side with helm and a8m/envsubst,
# built from their modules (GNU envsubst comes from gettext-base). gomplate
# cannot be built here (its module needs inet.af/netaddr, which the proxy
# does not serve): its cases come from its documentation.
render-peers: build/peers/helm-$(HELM_PIN) build/peers/envsubst-a8m-$(A8M_ENVSUBST_PIN)
	ln -sf helm-$(HELM_PIN) build/peers/helm
	ln -sf envsubst-a8m-$(A8M_ENVSUBST_PIN) build/peers/envsubst-a8m

# docker compose v2 (what `docker compose` is), built from e2e/compose: its
# module has exclude directives, which go install refuses. The e2e tests run
# the compose example and recipes with it and with Debian's docker-compose v1.
COMPOSE_V2_PIN := v2.40.3
compose-v2: build/peers/docker-compose-$(COMPOSE_V2_PIN)
	ln -sf docker-compose-$(COMPOSE_V2_PIN) build/peers/docker-compose

build/peers/docker-compose-$(COMPOSE_V2_PIN): e2e/compose/go.mod e2e/compose/go.sum
	mkdir -p build/peers
	cd e2e/compose && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$(COMPOSE_V2_PIN)" -o $(CURDIR)/$@ github.com/docker/compose/v2/cmd

build/peers/envsubst-a8m-$(A8M_ENVSUBST_PIN):
	mkdir -p build/peers/gobin
	GOBIN=$(CURDIR)/build/peers/gobin CGO_ENABLED=0 $(GO) install -trimpath -ldflags "-s -w" github.com/a8m/envsubst/cmd/envsubst@$(A8M_ENVSUBST_PIN)
	mv build/peers/gobin/envsubst $@

build/peers/consul-template-$(CONSUL_TEMPLATE_PIN):
	mkdir -p build/peers/gobin
	GOBIN=$(CURDIR)/build/peers/gobin CGO_ENABLED=0 $(GO) install -trimpath -ldflags "-s -w" github.com/hashicorp/consul-template@$(CONSUL_TEMPLATE_PIN)
	mv build/peers/gobin/consul-template $@

build/peers/helm-$(HELM_PIN):
	mkdir -p build/peers/gobin
	GOBIN=$(CURDIR)/build/peers/gobin CGO_ENABLED=0 $(GO) install -trimpath -ldflags "-s -w" helm.sh/helm/v3/cmd/helm@$(HELM_PIN)
	mv build/peers/gobin/helm $@

bench: deps-bench images peers ## size, cold start, readiness lag vs wait-for-it, S3 vs the AWS CLI and rclone, render vs helm, consul-template, envsubst
	$(GO) test -tags e2e -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./e2e/

clean: ## remove build output and the images built here
	rm -rf build
	-docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^initbox(-busybox|-testbin|-postgres|-vault|-minio)?:' | xargs -r docker rmi -f >/dev/null
