#!/usr/bin/env bash
# Regenerates data/demo/podvm.qcow2 and data/demo/measurements.json: a small
# podvm-like disk that does not boot (a GPT disk whose FAT EFI system
# partition holds EFI/BOOT/BOOTX64.EFI, a PE shaped like a unified kernel
# image: systemd-stub 252's .sdmagic, .osrel, .cmdline, .linux and .initrd
# sections with a few bytes each), and the values a release would publish
# for it, computed without rvkit:
#   pcr03  the EV_SEPARATOR constant every UEFI boot shows,
#   pcr09  the Linux EFI stub's two events (the command line as UTF-16LE
#          with its NUL, then the initrd), with Python's hashlib,
#   pcr11  `systemd-measure calculate --phase=` (Debian 12's systemd 252),
#   pcr12  zero (no credentials or add-ons on the ESP).
#
# Needs: python3, mkfs.vfat and mtools (dosfstools, mtools), sfdisk
# (fdisk), qemu-img (qemu-utils), /usr/lib/systemd/systemd-measure
# (systemd, Debian 12). Usage: data/demo/make-podvm-disk.sh [OUT_DIR]
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin MTOOLS_SKIP_CHECK=1 TZ=UTC LC_ALL=C SOURCE_DATE_EPOCH=0
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# The sections: small, fixed, and plainly not a real kernel or initrd.
printf 'ID=rvkit-demo\nNAME="rvkit demo podvm"\nVERSION_ID=1\n' > osrel
printf 'console=ttyS0 root=/dev/mapper/root roothash=%s\n' \
    "$(printf 'rvkit demo root' | sha256sum | cut -c1-64)" > cmdline
python3 - <<'PY'
import hashlib
def stream(label, n):
    out, i = b"", 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}:{i}".encode()).digest()
        i += 1
    return out[:n]
open("linux", "wb").write(b"rvkit demo: not a kernel\n" + stream("linux", 4000))
open("initrd", "wb").write(b"rvkit demo: not an initrd\n" + stream("initrd", 1500))
PY

# The PE: a PE32+ EFI application image whose sections hold those files.
python3 - <<'PY'
import struct
magic = b"#### LoaderInfo: systemd-stub 252.39 ####\0"
sections = [(b".sdmagic", magic)] + [
    (("." + n).encode(), open(n, "rb").read()) for n in ["osrel", "cmdline", "linux", "initrd"]
]
FILE_ALIGN, SECT_ALIGN, HEADERS = 0x200, 0x1000, 0x400
up = lambda n, a: (n + a - 1) // a * a
table, body, raw, va = b"", b"", HEADERS, SECT_ALIGN
for name, data in sections:
    size = up(len(data), FILE_ALIGN)
    # IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
    table += struct.pack("<8sIIIIIIHHI", name, len(data), va, size, raw, 0, 0, 0, 0, 0x40000040)
    body += data.ljust(size, b"\0")
    raw += size
    va += up(len(data), SECT_ALIGN)
dos = b"MZ".ljust(0x3C, b"\0") + struct.pack("<I", 0x40)
coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, len(sections), 0, 0, 0, 240, 0x0022)
opt = struct.pack("<HBBIIIII", 0x20B, 0, 0, 0, raw - HEADERS, 0, 0, SECT_ALIGN)
opt += struct.pack("<QIIHHHHHHIIIIHHQQQQII", 0, SECT_ALIGN, FILE_ALIGN, 0, 0, 0, 0, 0, 0, 0,
                   va, HEADERS, 0, 10, 0, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
opt += b"\0" * (16 * 8)
headers = (dos + coff + opt + table).ljust(HEADERS, b"\0")
open("uki.efi", "wb").write(headers + body)
PY

# The disk: a 2 MiB FAT ESP at 1 MiB of a GPT disk, every identifier fixed.
touch -d @0 uki.efi
mkfs.vfat --invariant -i 52564B54 -n DEMO-ESP -C esp.img 2048 >/dev/null
mmd -i esp.img ::EFI ::EFI/BOOT
mcopy -m -i esp.img uki.efi ::EFI/BOOT/BOOTX64.EFI
truncate -s 4M disk.raw
printf 'label: gpt\nlabel-id: 6A6F7267-7276-6B69-7464-656D6F646973\nstart=2048, size=2MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=6A6F7267-7276-6B69-7465-737000000001, name="ESP"\n' \
    | sfdisk -q disk.raw
dd if=esp.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 -c -o compat=1.1,cluster_size=4096 disk.raw podvm.qcow2

# The values, from tools other than rvkit.
pcr11=$(/usr/lib/systemd/systemd-measure calculate --linux=linux --osrel=osrel --cmdline=cmdline \
    --initrd=initrd --phase= --bank=sha256 2>/dev/null | sed -n 's/^11:sha256=//p')
pcr09=$(python3 - <<'PY'
import hashlib
h = lambda b: hashlib.sha256(b).digest()
cmdline = open("cmdline", "rb").read().decode().strip()
pcr = bytes(32)
for measured in [(cmdline + "\0").encode("utf-16-le"), open("initrd", "rb").read()]:
    pcr = h(pcr + h(measured))
print(pcr.hex())
PY
)
cat > measurements.json <<JSON
{
  "measurements": {
    "sha256": {
      "pcr03": "0x3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
      "pcr09": "0x$pcr09",
      "pcr11": "0x$pcr11",
      "pcr12": "0x0000000000000000000000000000000000000000000000000000000000000000"
    }
  }
}
JSON
cp podvm.qcow2 measurements.json "$out/"
echo "wrote $out/podvm.qcow2 ($(stat -c %s podvm.qcow2) bytes) and $out/measurements.json"
