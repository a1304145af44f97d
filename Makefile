# seesawd — see README.md. Every target works as root on a fresh Debian machine.
SHELL := /bin/bash
# Every go command goes through scripts/go.sh, which first installs the Go
# release go.mod names when no go at hand is new enough (GO=go to bypass).
GO ?= $(CURDIR)/scripts/go.sh
BIN := bin
PKGS := ./...
# The modules whose packages lint and fuzz cover: the benchmark against
# moby/ipvs and cloudflare/ipvs is a module of its own to keep them out of go.mod.
MODULES := . test/bench/ipvs
# The race detector doubles as a check of the engine's single-owner design.
RACE ?= -race
TESTFLAGS ?=
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test test-unit deps vm-prepare lint fmt fuzz bench bench-ipvs bench-healthcheck bench-vrrp bench-engine bench-scaleout demo man package clean

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

## lint: vet, staticcheck and a darwin build and vet of every module; gofmt.
# The darwin pass keeps Linux-only code behind linux build constraints, so a library
# user on a laptop can build and read the code.
lint:
	@set -e; for m in $(MODULES); do \
	  echo "== lint $$m"; cd $(CURDIR)/$$m; \
	  $(GO) vet $(PKGS); \
	  $(GO) run $(STATICCHECK) $(PKGS); \
	  GOOS=darwin $(GO) build -o /dev/null $(PKGS); \
	  GOOS=darwin $(GO) vet $(PKGS); \
	done
	@out=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

fmt:
	"$$($(GO) env GOROOT)/bin/gofmt" -w $$(git ls-files '*.go')

## fuzz: run every fuzz target of every module for FUZZTIME each (FUZZTIME=2s for a quick pass).
FUZZTIME ?= 1m
fuzz:
	@set -e; for m in $(MODULES); do \
	  cd $(CURDIR)/$$m; \
	  for pkg in $$($(GO) list $(PKGS)); do \
	    list=$$($(GO) test -list '^Fuzz' $$pkg); \
	    for f in $$(grep '^Fuzz' <<<"$$list"); do \
	      echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	    done; \
	  done; \
	done

bench: bench-ipvs bench-healthcheck bench-vrrp bench-engine bench-scaleout

## bench-ipvs: pkg/ipvs vs moby/ipvs, cloudflare/ipvs and ipvsadm -R in the VM lab.
bench-ipvs: vm-prepare
	cd test/bench/ipvs && CGO_ENABLED=0 $(GO) build -o ../../../$(BIN)/ipvs-bench .
	$(GO) run ./test/vm/cmd/vmrun -m 2G -smp 2 -timeout 20m -f $(BIN)/ipvs-bench -- /run/seesaw-vm/ipvs-bench

## bench-healthcheck: pkg/healthcheck vs the floor, net.Dialer and naive checkers (host), and keepalived (VM).
bench-healthcheck: vm-prepare
	$(GO) run ./test/bench/healthcheck

bench-vrrp: deps
	$(GO) run ./test/bench/vrrp

## bench-engine: reload, restart, transitions and steady state at 1,000 x 10, seesawd vs keepalived (VM lab).
bench-engine: vm-prepare build
	CGO_ENABLED=0 $(GO) build -o $(BIN)/engine-bench ./test/bench/engine
	$(BIN)/engine-bench -seesawd $(BIN)/seesawd

## bench-scaleout: BGP withdrawal, ECMP after an LB's death, connection sync vs keepalived (VM lab with FRR).
bench-scaleout: vm-prepare build
	CGO_ENABLED=0 $(GO) build -o $(BIN)/scaleout-bench ./test/bench/scaleout
	$(BIN)/scaleout-bench -seesawd $(BIN)/seesawd $(SCALEOUT_FLAGS)

## demo: seesawd as a load balancer, narrated, in the VM lab (client, two LBs, three backends).
demo: deps vm-prepare build
	CGO_ENABLED=0 $(GO) build -o $(BIN)/demo ./test/demo
	@echo "demo: booting the VM lab (QEMU, a few seconds) ..."
	$(GO) run ./test/vm/cmd/vmrun -m 1G -smp 2 -timeout 5m -f $(BIN)/demo -f $(BIN)/seesawd -f $(BIN)/seesawctl -- \
		/run/seesaw-vm/demo -seesawd /run/seesaw-vm/seesawd -seesawctl /run/seesaw-vm/seesawctl

## man: the man pages, from docs/man/*.md (seesawd.yaml.5 carries docs/configuration.md).
# go-md2man and nfpm are run at pinned versions with `go run`, outside go.mod.
MD2MAN := github.com/cpuguy83/go-md2man/v2@v2.0.7
NFPM := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
MANPAGES := $(BIN)/man/seesawd.8.gz $(BIN)/man/seesawctl.8.gz $(BIN)/man/seesawd.yaml.5.gz
man: $(MANPAGES)

$(BIN)/man/%.gz: docs/man/%.md
	@mkdir -p $(BIN)/man
	$(GO) run $(MD2MAN) -in $< -out $(BIN)/man/$*
	gzip -9nf $(BIN)/man/$*

# The configuration reference, its sections one level up, under the man page's head.
$(BIN)/man/seesawd.yaml.5.md: docs/man/seesawd.yaml.5.head.md docs/configuration.md packaging/man-tables.awk
	@mkdir -p $(BIN)/man
	{ cat docs/man/seesawd.yaml.5.head.md; sed -e '1{/^# /d}' -e 's/^#\(#*\) /\1 /' docs/configuration.md | awk -f packaging/man-tables.awk; } > $@

$(BIN)/man/seesawd.yaml.5.gz: $(BIN)/man/seesawd.yaml.5.md
	$(GO) run $(MD2MAN) -in $< -out $(BIN)/man/seesawd.yaml.5
	gzip -9nf $(BIN)/man/seesawd.yaml.5

## package: bin/seesawd_$(VERSION)_$(ARCH).deb (nfpm, packaging/nfpm.yaml): binaries, unit, conffile, man pages.
VERSION ?= 0.1.0~git$(shell git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0)
ARCH ?= $(shell $(GO) env GOARCH)
DEB := $(BIN)/seesawd_$(VERSION)_$(ARCH).deb
package: build man
	sed 's#@BIN@#$(BIN)#g' packaging/nfpm.yaml > $(BIN)/nfpm.yaml
	VERSION='$(VERSION)' ARCH='$(ARCH)' $(GO) run $(NFPM) package --config $(BIN)/nfpm.yaml --packager deb --target $(DEB)
	@echo "$(DEB)"

clean:
	rm -rf $(BIN)
