# AIS-Go. `make demo` runs the main job on a local cluster; `make test` is
# what CI runs.
GO      ?= go
BIN     := bin
RESULTS := benchmarks/results

.PHONY: all build image test vet tools unit e2e python lint demo bench bench-dsort clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The container image: static binaries built here, then a builder that
# only copies files (deploy/image/Containerfile is FROM scratch, no RUN).
# IMAGE_TOOL is podman, else buildah, else docker; IMAGE_FLAGS are its
# global flags (e.g. --storage-driver vfs where overlay mounts are refused).
IMAGE       ?= aisgo/aisnode:latest
IMAGE_CTX   ?= $(BIN)/image
IMAGE_TOOL  ?= $(firstword $(foreach t,podman buildah docker,$(if $(shell command -v $(t) 2>/dev/null),$(t))))
IMAGE_FLAGS ?=
# bud: older buildahs have no build alias.
IMAGE_BUILD  = $(IMAGE_TOOL) $(IMAGE_FLAGS) $(if $(filter buildah,$(notdir $(IMAGE_TOOL))),bud,build)

# The image's platform (linux/IMAGE_ARCH: this host's by default; e.g.
# IMAGE_ARCH=arm64 for another cluster's) and the CA bundle it takes:
# Debian's, else Fedora's.
IMAGE_ARCH  ?= $(shell $(GO) env GOARCH)
CA_BUNDLE   ?= $(firstword $(wildcard /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt))

image:
	@[ -n "$(IMAGE_TOOL)" ] || { echo "make image: no podman, buildah or docker; apt-get install buildah"; exit 1; }
	@[ -n "$(CA_BUNDLE)" ] || { echo "make image: no CA bundle found: apt-get install ca-certificates, or set CA_BUNDLE=FILE"; exit 1; }
	@# The context is removed and made anew: never empty (/), never split.
	@case "$(IMAGE_CTX)" in ""|/|*" "*) echo "make image: IMAGE_CTX='$(IMAGE_CTX)' must be a directory path without spaces"; exit 1;; esac
	rm -rf "$(IMAGE_CTX)"
	mkdir -p "$(IMAGE_CTX)/ais-data"
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags '-s -w' -o "$(IMAGE_CTX)/" ./cmd/aisnode ./cmd/ais
	cp deploy/image/passwd deploy/image/group "$(IMAGE_CTX)/"
	cp "$(CA_BUNDLE)" "$(IMAGE_CTX)/ca-certificates.crt"
	$(IMAGE_BUILD) -f deploy/image/Containerfile --platform linux/$(IMAGE_ARCH) -t $(IMAGE) "$(IMAGE_CTX)"

# vet, the unit tests with the race detector, then the end-to-end tests
# with real processes on loopback.
test: vet tools unit e2e python

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/

# Allocation tests run without -race, which makes sync.Pool drop buffers.
# The gateway package's tests run in shards beside the others (see the
# script): its serial run was the long pole.
unit:
	GO=$(GO) scripts/unit-tests.sh
	$(GO) test -count=1 -run Allocations ./formats/ ./shards/ ./benchmarks/

# The remote-bucket tests run a real S3 server, versitygw.
VERSITYGW := github.com/versity/versitygw/cmd/versitygw@v1.8.0

# The test servers built from source: versitygw, for the remote-bucket
# tests and the remote bench suite.
tools:
	$(GO) install $(VERSITYGW)

e2e: tools
	$(GO) test -count=1 -tags e2e -timeout 20m ./e2e/

# The Python client and its PyTorch datasets against a local cluster, with
# Debian's interpreter (the python3 first on PATH may lack its packages).
python: build
	/usr/bin/python3 -m pytest -q python/tests

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) test -count=1 -run 'TestDependencyRules|TestNoGrabBagPackages|TestNegativeRules' .

demo: build
	./scripts/demo.sh

# tools: the remote suite's S3 server (without it, those figures skip).
bench: build tools
	mkdir -p $(RESULTS)
	$(BIN)/aisbench -out $(RESULTS)

bench-dsort: build
	mkdir -p $(RESULTS)
	$(BIN)/aisbench -suites dsort -out $(RESULTS)

clean:
	rm -rf $(BIN) $(RESULTS) .demo
