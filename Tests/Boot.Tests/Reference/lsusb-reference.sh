#!/usr/bin/env bash
# Produces Tests/Boot.Tests/Reference/lsusb-default.txt: what usbutils' lsusb (Debian 12,
# usbutils 1:014) prints under Linux 6.1 for the default machine (qemu/scenarios/default.json).
#
# How: the Linux reference of shared/linux-reference (its Debian kernel and busybox initramfs,
# prepared by its setup.sh/build-initramfs.sh in $ANCHOR_WORK) plus, in a copy of that initramfs,
# the real lsusb with its libraries (apt-get download usbutils libusb-1.0-0 libudev1), usb.ids
# (apt-get download usb.ids) and a udev hwdb.bin compiled with systemd-hwdb from udev's
# 20-usb-vendor-model.hwdb and 20-usb-classes.hwdb (apt-get download udev): lsusb 014 takes
# vendor, product and class names from the hwdb. The guest boots on the QEMU arguments of the
# default scenario (same machine, same devices, same ports), loads the host controller drivers
# in the order our kernel registers its buses (EHCI, UHCI, OHCI, xHCI) so bus numbers agree,
# waits until the devices are bound and prints `lsusb`, `lsusb -t` and `lsusb -v`.
#
# Usage: Tests/Boot.Tests/Reference/lsusb-reference.sh [OUT]   (default: next to this script)
#        Tests/Boot.Tests/Reference/lsusb-reference.sh OUT -- QEMU-DEVICE-ARGS...
#   The second form replaces the default machine's controllers and devices (after the same machine
#   arguments); "${disk}" in an argument becomes a 16 MiB scratch image. lsusb-classes.txt was made with
#   the arguments in LsusbClassTests.cs (LsusbClassTests.Devices).
# Needs: qemu-system-x86_64, apt-get, dpkg-deb, gzip (cpio is the reference's busybox); network for apt-get download.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ref="${LINUX_REFERENCE:-/work/shared/linux-reference}"
out="${1:-$here/lsusb-default.txt}"
shift || true
custom=()
if [ "${1:-}" = -- ]; then shift; custom=("$@"); fi
. "$ref/common.sh"
[ -d "$ANCHOR_WORK/kernel/lib/modules" ] && [ -d "$ANCHOR_WORK/initramfs-root" ] || "$ref/build-initramfs.sh"

work="$(mktemp -d /tmp/lsusb-reference.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/x"
(cd "$work/debs" && apt-get download -qq usbutils libusb-1.0-0 libudev1 udev usb.ids)
for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$work/x"; done

root="$work/root"
cp -a "$ANCHOR_WORK/initramfs-root" "$root"
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/usr/bin" "$root/usr/share/misc" "$root/var/lib/usbutils" "$root/etc/udev"
cp "$work/x/usr/bin/lsusb" "$root/usr/bin/lsusb"
cp -L "$work/x/usr/lib/x86_64-linux-gnu/libusb-1.0.so.0" "$work/x/usr/lib/x86_64-linux-gnu/libudev.so.1" "$root/lib/x86_64-linux-gnu/"
for lib in libc.so.6 libpthread.so.0 libcap.so.2; do cp -L "/lib/x86_64-linux-gnu/$lib" "$root/lib/x86_64-linux-gnu/"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
ids="$(find "$work/x" -name usb.ids -type f | head -1)"
cp "$ids" "$root/var/lib/usbutils/usb.ids"
cp "$ids" "$root/usr/share/misc/usb.ids"
mkdir -p "$work/hwdb/etc/udev/hwdb.d"
cp "$work"/x/lib/udev/hwdb.d/20-usb-vendor-model.hwdb "$work"/x/lib/udev/hwdb.d/20-usb-classes.hwdb "$work/hwdb/etc/udev/hwdb.d/"
"$work/x/bin/systemd-hwdb" update --root="$work/hwdb" --usr=false 2>/dev/null || "$work/x/bin/systemd-hwdb" update --root="$work/hwdb"
cp "$(find "$work/hwdb" -name hwdb.bin | head -1)" "$root/etc/udev/hwdb.bin"

cat > "$root/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
echo 1 > /proc/sys/kernel/printk
load() { while read -r ko args; do [ -n "$ko" ] && insmod "/lib/modules/$ko" $args; done < "$1"; }
load /lib/modules/base.list
for h in ehci uhci ohci xhci; do load "/lib/modules/hcd-$h.list"; done
# Settled: 4 devices + 5 root hubs, every interface bound, unchanged for 2 s.
sig() { for d in /sys/bus/usb/devices/*; do [ -e "$d/driver" ] && echo "${d##*/}+" || echo "${d##*/}"; done; }
last=""; same=0; n=0
while [ $same -lt 8 ] && [ $n -lt 240 ]; do
  cur="$(sig)"; [ "$cur" = "$last" ] && same=$((same + 1)) || { same=0; last="$cur"; }
  n=$((n + 1)); sleep 0.25
done
echo "LSUSB-REFERENCE BEGIN"
echo "### lsusb"; lsusb
echo "### lsusb -t"; lsusb -t
echo "### lsusb -v"; lsusb -v 2>&1
echo "LSUSB-REFERENCE END"
poweroff -f
EOF
chmod 755 "$root/init"
(cd "$root" && find . | LC_ALL=C sort | "$ANCHOR_WORK/busybox/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 -n) > "$work/initrd.gz"

disk="$work/usbdisk.img"
truncate -s 16M "$disk"
# The QEMU arguments of qemu/scenarios/default.json and the harness (Tests/Boot.Tests/Harness/QemuCommandLine.cs).
devices=(-nic none
  -device piix3-usb-uhci,id=uhci -device pci-ohci,id=ohci -device usb-ehci,id=ehci -device qemu-xhci,id=xhci
  -device usb-kbd,id=kbd0,bus=uhci.0,port=1,usb_version=1
  -device usb-mouse,id=mouse0,bus=uhci.0,port=2,usb_version=1
  -device usb-tablet,id=tablet0,bus=ohci.0,port=1,usb_version=1
  -drive if=none,id=usbdisk,format=raw,file="$disk"
  -device usb-storage,id=stor0,bus=ohci.0,port=2,drive=usbdisk)
if [ ${#custom[@]} -gt 0 ]; then devices=("${custom[@]//\$\{disk\}/$disk}"); fi
timeout 300 qemu-system-x86_64 -machine pc -accel tcg -m 256 -smp 1 -display none -no-reboot \
  -serial stdio -monitor none \
  "${devices[@]}" \
  -kernel "$(kernel_image)" -initrd "$work/initrd.gz" -append "console=ttyS0 quiet panic=-1" \
  < /dev/null | tr -d '\r' > "$work/serial.log" || true
sed -n '/^LSUSB-REFERENCE BEGIN/,/^LSUSB-REFERENCE END/p' "$work/serial.log" | sed '1d;$d' > "$out.tmp"
grep -q '^### lsusb -v' "$out.tmp" || { echo "no lsusb output; serial log:" >&2; cat "$work/serial.log" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "wrote $out"
