# sslens build, run and test entry points. `make run` and `make test` are the
# two set-up commands on a fresh Debian machine (see README.md).

GO      ?= go
BIN     := bin/sslens
# OpenBLAS (libopenblas-dev) makes training several times faster; without it
# sslens builds with gonum's pure-Go BLAS. TAGS is openblas when the library
# is installed; override with `make TAGS=`.
TAGS    ?= $(shell (ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ') && echo openblas)
GOFLAGS_TAGS := $(if $(TAGS),-tags $(TAGS))

# Where `make run` keeps its database, datasets, runs and uploads; override
# with SSLENS_HOME. ADDR is where the portal listens.
SSLENS_HOME ?= $(HOME)/.local/share/sslens
ADDR ?= 127.0.0.1:8080

.PHONY: all build wasm run test test-go test-deps vet fmt-check fuzz bench clean gpu-bundle gpu-check

all: build

build:
	@echo "BLAS: $(if $(TAGS),OpenBLAS,gonum (pure Go; apt-get install libopenblas-dev for speed))"
	$(GO) build $(GOFLAGS_TAGS) -o $(BIN) ./backend/cmd/sslens

# The portal's browser side: app/ compiled to WebAssembly, served by
# `sslens serve` from web/ (stripped: the browser needs no symbols).
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o web/app.wasm ./app/cmd/wasm

# Builds and starts the portal. The first start simulates the default
# dataset, prints the admin's one-time password and trains the baseline
# classifier (progress on the Runs page); Ctrl-C stops it gracefully.
run: build wasm
	$(BIN) serve --data "$(SSLENS_HOME)" --addr "$(ADDR)"

# Installs the system packages the tests need (as root, when missing),
# saying so first.
test-deps:
	@echo "test-deps: checking the Debian packages the tests need (libopenblas-dev, g++, clang-14, chromium); missing ones are installed with apt-get, through sudo when not root"
	@bash .ci/install-deps

vet:
	$(GO) vet $(GOFLAGS_TAGS) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# test-deps runs first in its own make so TAGS sees the freshly installed library.
test: test-deps
	@$(MAKE) --no-print-directory fmt-check vet test-go

test-go:
	$(GO) test $(GOFLAGS_TAGS) -count=1 ./...
	@echo "pure-Go BLAS build and kernels (no cgo):"
	CGO_ENABLED=0 $(GO) build -o /dev/null ./backend/cmd/sslens
	CGO_ENABLED=0 $(GO) test -count=1 ./backend/nn/ops ./backend/gpu/...

# The GPU check. gpu-bundle builds what it runs into bin/gpu-check without
# cgo (no Go, toolkit or OpenBLAS needed where it runs, only the system's
# C library, for dlopen): sslens, the GPU executor's test binary and
# check.sh. Carry the folder to a GPU
# machine and run bin/gpu-check/check.sh OUT there; gpu-check does both on
# a GPU machine with Go, into var/gpu-check.
GPU_BUNDLE := bin/gpu-check
gpu-bundle:
	mkdir -p $(GPU_BUNDLE)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(GPU_BUNDLE)/sslens ./backend/cmd/sslens
	CGO_ENABLED=0 $(GO) test -c -trimpath -ldflags="-s -w" -o $(GPU_BUNDLE)/gpu.test ./backend/gpu
	cp backend/gpu/check.sh $(GPU_BUNDLE)/check.sh

gpu-check: gpu-bundle
	$(GPU_BUNDLE)/check.sh var/gpu-check

# Runs each fuzzer for a short while (FUZZTIME, default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecodeNPY -fuzztime=$(FUZZTIME) ./backend/data
	$(GO) test -run='^$$' -fuzz=FuzzDecodeFITS -fuzztime=$(FUZZTIME) ./backend/data

bench:
	$(GO) test $(GOFLAGS_TAGS) -run='^$$' -bench=. -benchmem ./backend/...

clean:
	rm -rf bin web/app.wasm
