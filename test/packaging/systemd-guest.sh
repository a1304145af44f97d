#!/bin/sh
# systemd-guest.sh PKG SYSTEMD CONFIG: run as PID 1 of new PID and mount
# namespaces (unshare --pid --fork --mount) in the VM lab. It installs the
# extracted package PKG the way dpkg would, on overlays of the guest's
# read-only root, creates the seesawd user, and becomes SYSTEMD as the
# system manager, starting only seesawd.service. GENERATOR=0 leaves the
# package's generator out (it asks the host's systemctl for the version,
# which is not that of a borrowed SYSTEMD).
set -eu
pkg=$1 systemd=$2 config=$3
work=$(mktemp -d /tmp/systemd-guest.XXXXXX)
mount -t proc proc /proc
for d in /etc /usr/sbin /usr/lib/systemd; do
	n=$(echo "$d" | tr / _)
	mkdir -p "$work/$n/up" "$work/$n/work"
	mount -t overlay overlay -o "lowerdir=$d,upperdir=$work/$n/up,workdir=$work/$n/work" "$d"
done
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
cp -a "$pkg/usr/sbin/seesawd" /usr/sbin/
cp -a "$pkg/lib/systemd/system/seesawd.service" /usr/lib/systemd/system/
if [ "${GENERATOR:-1}" != 0 ]; then
	cp -a "$pkg/lib/systemd/system-generators/seesawd-systemd-compat" /usr/lib/systemd/system-generators/
fi
mkdir -p /etc/seesawd
cp "$config" /etc/seesawd/seesawd.yaml
# What the package's postinst does.
echo 'seesawd:x:990:990:seesawd load balancer:/nonexistent:/usr/sbin/nologin' >>/etc/passwd
echo 'seesawd:x:990:' >>/etc/group
# Only the service, not the host's boot: no default dependencies (their
# sysinit.target would start the host's early-boot units), the network
# target masked, the output in a file for the test to read.
mkdir -p /etc/systemd/system/seesawd.service.d
# WatchdogSec is shortened so the watchdog test waits 5s, not the unit's 30s.
printf '[Unit]\nDefaultDependencies=no\n[Service]\nWatchdogSec=5s\nStandardOutput=append:/run/seesawd.log\nStandardError=append:/run/seesawd.log\n' \
	>/etc/systemd/system/seesawd.service.d/test.conf
ln -sf /dev/null /etc/systemd/system/network-online.target
printf '[Unit]\nDefaultDependencies=no\nWants=seesawd.service\n' >/etc/systemd/system/seesawd-test.target
exec env -i container=seesawd-test LD_LIBRARY_PATH="${SYSTEMD_LIB:-}" "$systemd" --system --unit=seesawd-test.target --log-target=console --show-status=no
