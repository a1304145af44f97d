#!/bin/sh
# prepare.sh builds the VM lab's cache: Debian's stock kernel (with ip_vs as
# modules), its module dependency index, and a busybox initramfs that can
# mount the host's root over 9p. It is idempotent: a filled cache is reused
# until this script or init.sh changes (the ready stamp holds their hash).
#
# Usage: test/vm/prepare.sh [CACHE_DIR]   (default $SEESAW_VM_CACHE or /var/cache/seesaw-vm)
# Needs root on Debian: installs qemu-system-x86, busybox-static, cpio, kmod, ipvsadm.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${SEESAW_VM_CACHE:-/var/cache/seesaw-vm}}
stamp="$cache/ready"
key=$(cat "$here/prepare.sh" "$here/init.sh" | sha256sum | cut -c1-16)
[ "$(cat "$stamp" 2>/dev/null)" = "$key" ] && exit 0
# Test packages boot the lab in parallel: one builds, the others wait for it.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
[ "$(cat "$stamp" 2>/dev/null)" = "$key" ] && exit 0

log() { echo "vm-prepare: $*" >&2; }

need_pkgs=""
for pair in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static cpio:cpio depmod:kmod ipvsadm:ipvsadm; do
	cmd=${pair%%:*} pkg=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || need_pkgs="$need_pkgs $pkg"
done
# busybox must be the static build: the initramfs has no libc.
bb=$(command -v busybox 2>/dev/null || true)
if [ -z "$bb" ] || ldd "$bb" >/dev/null 2>&1; then
	case "$need_pkgs" in *busybox-static*) ;; *) need_pkgs="$need_pkgs busybox-static" ;; esac
fi
if [ -n "$need_pkgs" ]; then
	log "installing$need_pkgs"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q $need_pkgs >/dev/null
fi

cd "$cache"
# Resolve the concrete kernel package behind the linux-image-amd64 metapackage.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
	apt-get update -q >/dev/null
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || { log "cannot resolve linux-image-amd64"; exit 1; }
ver=${pkg#linux-image-}
if [ ! -f "root/boot/vmlinuz-$ver" ]; then
	log "downloading $pkg"
	rm -rf root ./*.deb
	# apt-get download drops privileges to _apt, which cannot write here.
	chmod 0777 "$cache"
	apt-get download "$pkg" >/dev/null
	chmod 0755 "$cache"
	dpkg-deb -x ./"$pkg"_*.deb root
	rm -f ./*.deb
fi
depmod -b root "$ver"

# The initramfs only needs what mounting 9p takes; everything else (ip_vs,
# schedulers, veth, ...) is modprobed from the shared host root in the guest.
rm -rf initramfs && mkdir -p initramfs/bin initramfs/mods initramfs/proc initramfs/sys initramfs/dev initramfs/newroot
cp "$(command -v busybox)" initramfs/bin/busybox
moddir="root/lib/modules/$ver"
order=""
modpath() { awk -v m="/$1.ko:" 'index($0, m) {sub(":.*", "", $1); print $1; exit}' "$moddir/modules.dep"; }
add_mod() { # add_mod NAME: append NAME's dependencies, then NAME, once each
	# sh has no local variables: look the line up again after recursing.
	[ -n "$(modpath "$1")" ] || { log "module $1 not in $moddir"; exit 1; }
	for d in $(awk -v m="/$1.ko:" 'index($0, m) {sub("^[^:]*:", ""); print; exit}' "$moddir/modules.dep"); do
		add_mod "$(basename "$d" .ko)"
	done
	case " $order " in *" $1 "*) ;; *) order="$order $1"; cp "$moddir/$(modpath "$1")" "initramfs/mods/$1.ko" ;; esac
}
for m in virtio_pci 9pnet_virtio 9p; do add_mod "$m"; done
echo "$order" > initramfs/mods/order
cp "$here/init.sh" initramfs/init
chmod 0755 initramfs/init
(cd initramfs && find . | cpio -o -H newc --quiet | gzip -1) > initramfs.cpio.gz.tmp
mv initramfs.cpio.gz.tmp initramfs.cpio.gz
ln -sf "root/boot/vmlinuz-$ver" vmlinuz
echo "$ver" > kernel-version
echo "$key" > "$stamp"
log "ready: kernel $ver in $cache"
