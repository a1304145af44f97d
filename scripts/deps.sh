#!/bin/sh
# deps.sh installs, on Debian as root, the packages seesawd's tests and lab
# use, skipping what is already there. Safe to run repeatedly.
set -eu
missing=""
check() { # check COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || missing="$missing $2"
}
check ip iproute2
check nft nftables
check ping iputils-ping
check tcpdump tcpdump
check curl curl
check ipvsadm ipvsadm
check keepalived keepalived
check qemu-system-x86_64 qemu-system-x86
check cpio cpio
check depmod kmod
check gzip gzip
check sysctl procps
# The scale-out tests' router: FRR's zebra and bgpd (test/scaleout).
[ -x /usr/lib/frr/bgpd ] && [ -x /usr/lib/frr/zebra ] || missing="$missing frr"
# The package's tests (test/packaging): man pages, the unit, the maintainer's tools.
check man man-db
check groff groff-base
check systemd-analyze systemd
check dpkg-deb dpkg
check setpriv util-linux
# go test -race needs cgo: a C compiler and libc's headers.
check gcc gcc
[ -e /usr/include/stdlib.h ] || missing="$missing libc6-dev"
bb=$(command -v busybox 2>/dev/null || true)
if [ -z "$bb" ] || ldd "$bb" >/dev/null 2>&1; then missing="$missing busybox-static"; fi
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing$missing; run as root (or apt-get install them)" >&2
		exit 1
	fi
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
