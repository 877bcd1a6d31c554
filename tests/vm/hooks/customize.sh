#!/bin/sh
# mmdebstrap --customize-hook: turn the chroot into a bootable test VM.
#   $1 = root of the chroot (host path); RTMEM_VM_HOOKDIR = tests/vm/hooks
set -eu
root="$1"
hookdir="${RTMEM_VM_HOOKDIR:?}"

echo rtmemd-vm > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\trtmemd-vm\n' > "$root/etc/hosts"
# root is given on the kernel command line (root=/dev/vda rw)
printf '/dev/vda\t/\text4\tdefaults\t0\t0\n' > "$root/etc/fstab"

# A fixed machine-id: with an empty or "uninitialized" one, systemd treats the
# boot as a first boot (ConditionFirstBoot) and systemd-firstboot may wait for
# input on the console.
echo 5b2a6c0f3e1d4f7a9c8b0e1d2f3a4b5c > "$root/etc/machine-id"
ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"

# Empty root password: only for debugging by hand on the serial console
# (the VM has no network).
chroot "$root" passwd -d root >/dev/null

# Timers that could fire during the test and only add noise/load, and
# e2scrub_reap (LVM snapshot cleanup; none here), which took 15 s of a TCG boot.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
         fstrim.timer man-db.timer dpkg-db-backup.timer e2scrub_reap.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done

# The test runner unit (it does nothing unless /opt/rtmemd-vm/guest-run.sh
# was injected by run-vm-test for this boot).
install -m 0644 "$hookdir/rtmemd-vm-test.service" \
	"$root/etc/systemd/system/rtmemd-vm-test.service"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../rtmemd-vm-test.service \
	"$root/etc/systemd/system/multi-user.target.wants/rtmemd-vm-test.service"
mkdir -p "$root/opt/rtmemd-vm" "$root/var/lib/rtmemd-vm"

# The booted system's dpkg must install rtmemd's .debs completely (docs, man
# pages): drop the path-excludes used to keep the build small.
rm -f "$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap"

# Smaller image: no package lists needed for offline dpkg -i.
rm -rf "$root"/var/lib/apt/lists/*_Packages* "$root"/var/lib/apt/lists/*_Release* \
	"$root"/var/lib/apt/lists/*_InRelease
