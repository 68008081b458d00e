# sslens build, run and test entry points. `make run` and `make test` are the
# two set-up commands on a fresh Debian machine (see README.md).

GO      ?= go
BIN     := bin/sslens
# Where `make run` keeps its dataset, database and runs; override with SSLENS_HOME.
SSLENS_HOME ?= $(HOME)/.local/share/sslens
DATASET := $(SSLENS_HOME)/datasets/sim-hsc

.PHONY: all build run test test-deps vet fmt-check fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN) ./backend/cmd/sslens

# Builds, makes the default simulated dataset on first use, validates it and
# writes a preview grid of lenses and non-lenses.
run: build
	@if [ ! -f "$(DATASET)/splits.json" ]; then \
		$(BIN) simulate --out "$(DATASET)" --preview "$(DATASET)/preview.png"; \
	else \
		echo "dataset present: $(DATASET)"; \
	fi
	$(BIN) data check "$(DATASET)"
	$(BIN) data stats "$(DATASET)"

# Installs the system packages the tests need (as root, when missing).
test-deps:
	@bash .ci/install-deps

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: test-deps fmt-check vet
	$(GO) test -count=1 ./...

# Runs each fuzzer for a short while (FUZZTIME, default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecodeNPY -fuzztime=$(FUZZTIME) ./backend/data
	$(GO) test -run='^$$' -fuzz=FuzzDecodeFITS -fuzztime=$(FUZZTIME) ./backend/data

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./backend/...

clean:
	rm -rf bin
