#!/usr/bin/env python3
"""Dumps a QEMU machine's Intel MultiProcessor table (MPS 1.4 chapter 4: the "_MP_" floating pointer
found in the EBDA's first KiB or F0000h-FFFFFh, and the "PCMP" configuration table it points at) as
'ADDRESS HEXBYTES  # comment' lines, the format of dump-acpi.py.
usage: dump-mptable.py OUT.txt -- qemu args... (e.g. -M q35 -accel tcg -m 256 -nic none -device ich9-usb-uhci1)"""
import os, struct, sys
import qemu_memory
out = sys.argv[1]; qargs = sys.argv[3:]
qemu_memory.start(qargs)
mem = qemu_memory.mem
ebda = struct.unpack_from("<H", mem(0x40E, 2))[0] << 4
areas = ([(ebda, 1024)] if 0x500 <= ebda < 0xA0000 else []) + [(0xF0000, 0x10000)]
fp = None
for base, n in areas:
    area = mem(base, n)
    for off in range(0, n - 15, 16):
        if area[off:off+4] == b"_MP_" and sum(area[off:off+16]) & 0xFF == 0:
            fp = base + off; break
    if fp: break
f16 = mem(fp, 16)
cfg = struct.unpack_from("<I", f16, 4)[0]
hdr = mem(cfg, 44); ln = struct.unpack_from("<H", hdr, 4)[0] + struct.unpack_from("<H", hdr, 40)[0]
with open(out, "w") as f:
    f.write("%08x %s  # _MP_\n" % (fp, f16.hex()))
    f.write("%08x %s  # PCMP\n" % (cfg, mem(cfg, ln).hex()))
qemu_memory.stop()
print("wrote", out, "floating pointer at %x, table at %x (%d bytes)" % (fp, cfg, ln))
