#!/bin/sh
# mmdebstrap --setup-hook: runs before any package is installed, so the very
# first update-initramfs (from the kernel's postinst) already builds a small
# initramfs. With the default MODULES=most, initramfs-tools copies hundreds of
# modules and compresses them; under qemu-user (arm64 rootfs on an amd64 host)
# that took most of a 23-minute build. The VM only needs virtio + ext4.
#   $1 = root of the chroot being built (host path)
set -eu
root="$1"
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/etc/initramfs-tools/hooks"

# conf.d/*.conf is sourced after initramfs.conf (a conffile we do not touch)
cat > "$root/etc/initramfs-tools/conf.d/rtmemd-vm.conf" <<'CONF'
# rtmemd VM test: only the modules listed by hooks/rtmemd-vm
MODULES=list
# no resume device in the VM: skip the (slow) swap probing
RESUME=none
# cheap to build under qemu-user, cheap to unpack under TCG
COMPRESS=gzip
CONF

# A hook, not /etc/initramfs-tools/modules: that file is a conffile of
# initramfs-tools, and pre-seeding it would make dpkg ask about it.
cat > "$root/etc/initramfs-tools/hooks/rtmemd-vm" <<'HOOK'
#!/bin/sh
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
# virtio transport (PCI on both q35/pc and -M virt; MMIO for -device *-device),
# the block device, the console, and the root file system with its checksum.
for m in virtio_pci virtio_mmio virtio_blk virtio_console ext4 crc32c_generic; do
	force_load "$m" 2>/dev/null || true
done
# arch-accelerated crc32c, when the kernel has one (amd64)
manual_add_modules crc32c_intel 2>/dev/null || true
exit 0
HOOK
chmod 0755 "$root/etc/initramfs-tools/hooks/rtmemd-vm"
