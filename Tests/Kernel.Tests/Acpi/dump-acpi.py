#!/usr/bin/env python3
"""Dumps the ACPI tables of a QEMU machine (firmware's RSDP, RSDT/XSDT and every table they list)
as 'ADDRESS HEXBYTES' lines. usage: dump-acpi.py OUT.txt -- qemu args... (e.g. -M q35 -accel tcg -m 256 -nic none)  (RSDP found by scanning 0xE0000-0xFFFFF,
or given with RSDP=0x... in the environment; OVMF's: XSDT=0x... (the kernel logs it) finds the RSDP pointing at it in RAM).
The q35 OVMF dump was taken with the kernel ISO booted (-cdrom out/kernel.iso, WAIT=45): its RSDP line is GRUB's copy."""
import os, struct, sys
import qemu_memory
out = sys.argv[1]; qargs = sys.argv[3:]
qemu_memory.start(qargs)
mem = qemu_memory.mem
if "RSDP" in os.environ:
    rsdp = int(os.environ["RSDP"], 0)
else:
    area = mem(0xE0000, 0x20000)
    rsdp = None
    for off in range(0, len(area), 16):
        if area[off:off+8] == b"RSD PTR " and sum(area[off:off+20]) & 0xFF == 0:
            rsdp = 0xE0000 + off; break
    chunk = 0x1000000
    base = 0
    while rsdp is None and base < 0x10000000:
        area = mem(base, chunk)
        i = area.find(b"RSD PTR ")
        while i >= 0:
            want = int(os.environ.get("XSDT", "0"), 0)
            if sum(area[i:i+20]) & 0xFF == 0 and area[i+15] >= 2 and (not want or struct.unpack_from("<Q", area, i + 24)[0] == want):
                rsdp = base + i; break
            i = area.find(b"RSD PTR ", i + 1)
        base += chunk
r = mem(rsdp, 36)
rev = r[15]
lines = [(rsdp, r[:36] if rev >= 2 else r[:20])]
roots = []
rsdt = struct.unpack_from("<I", r, 16)[0]
roots.append((rsdt, 4))
if rev >= 2:
    xsdt = struct.unpack_from("<Q", r, 24)[0]
    if xsdt: roots.append((xsdt, 8))
seen = set()
for addr, width in roots:
    if not addr: continue
    hdr = mem(addr, 36); ln = struct.unpack_from("<I", hdr, 4)[0]
    t = mem(addr, ln); lines.append((addr, t)); seen.add(addr)
    for i in range(36, ln, width):
        a = struct.unpack_from("<Q" if width == 8 else "<I", t, i)[0]
        if a in seen or a == 0: continue
        seen.add(a)
        h = mem(a, 36); l2 = struct.unpack_from("<I", h, 4)[0]
        if h[:4] in (b"APIC", b"MCFG", b"FACP", b"HPET", b"WAET", b"SRAT", b"BGRT", b"SSDT", b"TPM2"):
            if l2 <= 0x10000: lines.append((a, mem(a, l2)))
with open(out, "w") as f:
    for a, b in lines:
        f.write("%08x %s  # %s\n" % (a, b.hex(), b[:8].decode("latin1") if b[:8] == b"RSD PTR " else b[:4].decode("latin1")))
qemu_memory.stop()
print("wrote", out, "RSDP at %x rev %d" % (rsdp, rev))
