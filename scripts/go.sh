#!/bin/sh
# go.sh runs the go command of a toolchain at least as new as the one go.mod
# names, installing that toolchain first when no go at hand is new enough:
#
#	scripts/go.sh test ./pkg/vrrp    # any go command; the Makefile runs go this way
#	scripts/go.sh --path             # print the go binary's path instead
#
# It looks at `go` on PATH, /usr/local/go/bin/go and its own install places.
# A fresh Debian 12 has no Go, and its packaged 1.19 cannot read go.mod, but
# any go can fetch a toolchain: the Go module proxy serves each release as the
# module golang.org/toolchain, checked against the checksum database like any
# module. With no go at all, Debian's Go package is unpacked into a temporary
# directory just for that download (nothing is installed with apt).
#
# The toolchain goes to /usr/local/go when that is free (where go.dev/doc/install
# puts Go, so `export PATH=$PATH:/usr/local/go/bin` finds it), else to
# /usr/local/lib/seesawd-go/go<version>: a Go someone else installed in
# /usr/local/go may be pinned by other work and is never replaced. Not as root,
# it goes to ~/.cache/seesawd-go/go<version>.
set -eu

log() { echo "go.sh: $*" >&2; }
die() { log "$*"; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
# go.mod's go line is the minimum; a toolchain line, when newer, is preferred.
want=$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' "$root/go.mod")
tc=$(sed -n 's/^toolchain go\([0-9][0-9.]*\).*/\1/p' "$root/go.mod")
[ -n "$want" ] || die "no go line in $root/go.mod"

# ge A B: version A is at least B.
ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }
[ -n "$tc" ] && ge "$tc" "$want" && want=$tc
# Since Go 1.21 the first release of 1.N is go1.N.0.
case $want in 1.*.*) ;; 1.*) [ "${want#1.}" -ge 21 ] && want=$want.0 ;; esac

# version GO: the release a go binary is, without switching toolchains.
version() { (cd / && GOTOOLCHAIN=local "$1" version 2>/dev/null) | sed -n 's/^go version go\([0-9][0-9.]*\).*/\1/p'; }

os=$(uname -s | tr '[:upper:]' '[:lower:]')
case $(uname -m) in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
armv6* | armv7*) arch=armv6l ;;
i?86) arch=386 ;;
*) arch=$(uname -m) ;;
esac
if [ "$(id -u)" = 0 ]; then
	lib=/usr/local/lib/seesawd-go
else
	lib=${XDG_CACHE_HOME:-$HOME/.cache}/seesawd-go
fi

find_go() {
	for g in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "$lib/go$want/bin/go"; do
		[ -n "$g" ] && [ -x "$g" ] || continue
		v=$(version "$g")
		[ -n "$v" ] && ge "$v" "$want" && { echo "$g"; return 0; }
	done
	return 1
}

# bootstrap DIR: print a go command that can download modules, unpacking
# Debian's Go package under DIR when there is no go at all.
bootstrap() {
	for g in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go/bin/go /usr/lib/go-*/bin/go; do
		[ -n "$g" ] && [ -x "$g" ] && [ -n "$(version "$g")" ] && { echo "$g"; return 0; }
	done
	command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 ||
		die "no go found: install Go $want or newer (https://go.dev/dl/) in /usr/local/go, or any Go, and rerun"
	pkg=$(apt-cache depends golang-go 2>/dev/null | awk '/Depends: golang-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
		log "apt-get update (to find Debian's Go package)"
		apt-get update -q >/dev/null
		pkg=$(apt-cache depends golang-go 2>/dev/null | awk '/Depends: golang-[0-9]/ {print $2; exit}')
	fi
	[ -n "$pkg" ] || die "no go found and apt knows no golang-go: install Go $want or newer (https://go.dev/dl/)"
	log "no go found: fetching Debian's $pkg to download Go $want with (unpacked under $1, not installed)"
	mkdir -p "$1/deb"
	# As root, apt-get download drops privileges to _apt, which must write here.
	chmod 0777 "$1/deb"
	(cd "$1/deb" && apt-get download -q "$pkg" >/dev/null) || die "apt-get download $pkg failed"
	dpkg-deb -x "$1"/deb/*.deb "$1/boot"
	for g in "$1"/boot/usr/lib/go-*/bin/go; do
		[ -x "$g" ] && { echo "$g"; return 0; }
	done
	die "$pkg holds no usr/lib/go-*/bin/go"
}

install_go() {
	if [ "$(id -u)" = 0 ] && [ ! -e /usr/local/go ]; then
		dest=/usr/local/go
	else
		dest=$lib/go$want
	fi
	parent=$(dirname "$dest")
	mkdir -p "$parent"
	tmp=$(mktemp -d "$parent/.seesawd-go.XXXXXX")
	chmod 0755 "$tmp"
	progress=
	cleanup() {
		[ -z "$progress" ] || kill "$progress" 2>/dev/null || true
		chmod -R u+w "$tmp" 2>/dev/null || true
		rm -rf "$tmp"
	}
	trap cleanup EXIT
	boot=$(bootstrap "$tmp") || exit 1
	mod=golang.org/toolchain@v0.0.1-go$want.$os-$arch
	log "downloading Go $want for $os/$arch ($mod, about 70 MB) with $boot ($(version "$boot"))"
	# Progress: the download's size every 3 s. The sleep runs in the
	# background so that killing the reporter ends it at once.
	dl=$tmp/gopath/pkg/mod/cache/download/golang.org/toolchain/@v
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		while :; do
			sleep 3 &
			s=$!
			wait "$s"
			mb=$(du -sm "$dl" 2>/dev/null | cut -f1)
			if [ -f "$dl/v0.0.1-go$want.$os-$arch.zip" ]; then
				log "... downloaded ${mb:-0} MB, unpacking"
			else
				log "... ${mb:-0} MB downloaded"
			fi
		done
	) &
	progress=$!
	# In a directory of its own, so no go.mod (this repository's is too new for
	# an old go to parse) is in the way; GOFLAGS cleared for the same reason.
	mkdir -p "$tmp/mod"
	(cd "$tmp/mod" && GOPATH="$tmp/gopath" GOMODCACHE="$tmp/gopath/pkg/mod" GOFLAGS= GO111MODULE=on GOTOOLCHAIN=local GOROOT= \
		"$boot" mod download -json "$mod") >"$tmp/download.json" 2>"$tmp/download.err" || {
		cat "$tmp/download.json" "$tmp/download.err" >&2
		die "could not download $mod (GOPROXY=${GOPROXY:-default})"
	}
	kill "$progress" 2>/dev/null || true
	progress=
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' "$tmp/download.json")
	[ -n "$dir" ] && [ -f "$dir/bin/go" ] || die "download of $mod has no bin/go: $(cat "$tmp/download.json")"
	# The module cache is read-only and module zips carry no exec bits: go
	# itself sets them on bin/ and pkg/tool/ when it switches toolchains.
	chmod -R u+w "$dir"
	chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
	mv "$dir" "$tmp/go"
	got=$(version "$tmp/go/bin/go")
	[ "$got" = "$want" ] || die "downloaded toolchain reports version '$got', want $want"
	# Another go.sh may have finished first; either copy is the same release.
	mv "$tmp/go" "$dest" 2>/dev/null || [ -x "$dest/bin/go" ] || die "cannot move the toolchain to $dest"
	log "installed Go $want in $dest"
	cleanup
	trap - EXIT
}

# Go fetches modules (this toolchain, then the project's) over TLS and trusts
# the system's CA bundle, which a minimal Debian lacks.
if [ ! -e /etc/ssl/certs/ca-certificates.crt ] && [ "$os" = linux ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	log "installing ca-certificates (Go needs them to download modules)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q ca-certificates >/dev/null 2>&1 || {
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ca-certificates >/dev/null
	} || die "apt-get install ca-certificates failed"
fi

go=$(find_go) || {
	install_go
	go=$(find_go) || die "installed Go $want but cannot find it"
}
if [ "${1:-}" = --path ]; then
	echo "$go"
	exit 0
fi
# The go checked above is the one that runs, also for tests that run go.
unset GOROOT
PATH=$(dirname "$go"):$PATH GOTOOLCHAIN=local exec "$go" "$@"
