#!/bin/busybox sh
# init.sh is PID 1 of the VM lab's initramfs. It mounts the host's root
# filesystem (9p, read-only) and the job directory (9p, read-write), gives the
# guest its own /proc, /sys, /dev and tmpfs on /tmp, /run, /root, /var/tmp and
# /var/log, binds back the host paths the job needs that those tmpfs hide
# (the job directory's "share" file), chroots into the host root and runs
# /run/seesaw-vm/job.sh there. The job's exit status is written to
# /run/seesaw-vm/rc and printed as a marker line, then the VM powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do
	insmod /mods/$m.ko || echo "seesaw-vm: insmod $m failed"
done
R=/newroot
fail() { echo "seesaw-vm: $*"; echo "SEESAW-VM-EXIT:255"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot $R || fail "mount host root"
# /host keeps the whole host root reachable (outside the chroot) after the
# tmpfs mounts below hide parts of $R.
mkdir -p /host
mount -o bind $R /host || fail "bind host root"
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm 2>/dev/null
mount -t devpts devpts $R/dev/pts 2>/dev/null
mount -t tmpfs tmpfs $R/dev/shm
mount -t tmpfs tmpfs $R/tmp
mount -t tmpfs tmpfs $R/run
mount -t tmpfs tmpfs $R/root
mkdir -p $R/run/seesaw-vm $R/run/netns $R/run/lock
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 job $R/run/seesaw-vm || fail "mount job dir"
mount -t tmpfs tmpfs $R/var/tmp 2>/dev/null
mount -t tmpfs tmpfs $R/var/log 2>/dev/null
# One absolute host path a line, parents before children. A path the guest
# already sees (outside the tmpfs, or a tmpfs mount point itself, which must
# stay the guest's own) is left alone; a hidden one is bound back, read-only
# like the rest of the host root.
if [ -f $R/run/seesaw-vm/share ]; then
	while IFS= read -r p; do
		[ -e "$R$p" ] && continue
		[ -d "/host$p" ] || { echo "seesaw-vm: share $p: not a directory on the host"; continue; }
		mkdir -p "$R$p" && mount -o bind "/host$p" "$R$p" || fail "bind $p"
	done < $R/run/seesaw-vm/share
fi
hostname seesaw-vm
# The console is at loglevel 1, so a kernel lockup report would print one
# line without its stack, or nothing. Watch the kernel log and copy a
# lockup or stall report, with the 60 lines after it, to the console.
(
	n=0
	cat /dev/kmsg | while IFS= read -r l; do
		case "$l" in
		*"soft lockup"* | *"hard LOCKUP"* | *"rcu"*"stall"* | *"blocked for more than"*) n=60 ;;
		esac
		[ $n -gt 0 ] && { echo "seesaw-vm kmsg: ${l#*;}"; n=$((n - 1)); }
	done
) &
chroot $R /bin/sh /run/seesaw-vm/job.sh
rc=$?
echo $rc > $R/run/seesaw-vm/rc
sync
echo "SEESAW-VM-EXIT:$rc"
poweroff -f
