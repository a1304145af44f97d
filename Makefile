# seesawd — see README.md. Every target works as root on a fresh Debian machine.
SHELL := /bin/bash
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
BIN := bin
PKGS := ./...
# The race detector doubles as a check of the engine's single-owner design.
RACE ?= -race
TESTFLAGS ?=
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test test-unit deps vm-prepare lint fmt fuzz bench bench-ipvs bench-healthcheck bench-vrrp demo clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

## test: everything — unit, fuzz seeds, network-namespace and VM-lab integration tests.
test: deps vm-prepare
	$(GO) test $(RACE) -count=1 -timeout 15m $(TESTFLAGS) $(PKGS)

## test-unit: the tests that need no root and no VM.
test-unit:
	$(GO) test -short -count=1 $(TESTFLAGS) $(PKGS)

deps:
	@sh scripts/deps.sh

vm-prepare: deps
	@sh test/vm/prepare.sh

lint:
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	cd test/bench/ipvs && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## fuzz: run every fuzz target briefly (FUZZTIME per target).
FUZZTIME ?= 15s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: bench-ipvs bench-healthcheck bench-vrrp

## bench-ipvs: pkg/ipvs vs moby/ipvs, cloudflare/ipvs and ipvsadm -R in the VM lab.
bench-ipvs: vm-prepare
	cd test/bench/ipvs && CGO_ENABLED=0 $(GO) build -o ../../../$(BIN)/ipvs-bench .
	$(GO) run ./test/vm/cmd/vmrun -m 2G -smp 1 -timeout 20m -f $(BIN)/ipvs-bench -- /run/seesaw-vm/ipvs-bench

## bench-healthcheck: pkg/healthcheck vs the floor, net.Dialer and naive checkers (host), and keepalived (VM).
bench-healthcheck: vm-prepare
	$(GO) run ./test/bench/healthcheck

bench-vrrp: deps
	$(GO) run ./test/bench/vrrp

## demo: two seesawd nodes fail over a VIP while a client pings it, inside the VM lab.
demo: deps vm-prepare build
	$(GO) run ./test/vm/cmd/vmrun -m 1G -smp 2 -timeout 5m -- test/demo/demo.sh

clean:
	rm -rf $(BIN)
