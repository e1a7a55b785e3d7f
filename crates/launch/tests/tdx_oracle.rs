//! TDX MRTD against a pinned vector and an independent Python implementation.

use rvkit_launch::Firmware;
use rvkit_launch::ovmf::guids;
use rvkit_launch::tdx::{mrtd, replay, rtmr2_events};
use rvkit_pcr::{Digest, HashAlg};

const DEBIAN_OVMF: &str = "/usr/share/ovmf/OVMF.fd";
/// sha256 of Debian 12's `ovmf` 2022.11-6+deb12u2 `/usr/share/ovmf/OVMF.fd`.
const DEBIAN_OVMF_SHA256: &str = "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773";
/// Its MRTD, computed with td-shim's reference script
/// (`td-shim-tools/src/bin/td-shim-tee-info-hash/td_shim_tee_info_hash.py`); pinned in issue 12.
const DEBIAN_OVMF_MRTD: &str =
    "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47";

#[test]
fn mrtd_of_debian_ovmf_matches_the_pinned_vector() {
    let Ok(image) = std::fs::read(DEBIAN_OVMF) else {
        assert!(!rvkit_test_support::services_required(), "CI must install Debian's ovmf package");
        eprintln!("skipped: {DEBIAN_OVMF} is not installed (package ovmf)");
        return;
    };
    let sha = HashAlg::Sha256.hash(&image).to_hex();
    if sha != DEBIAN_OVMF_SHA256 {
        eprintln!("skipped: {DEBIAN_OVMF} has sha256 {sha}, the pinned MRTD is for {DEBIAN_OVMF_SHA256}");
        return;
    }
    let (value, regions) = mrtd(&Firmware::parse(&image).unwrap()).unwrap();
    assert_eq!(value.to_hex(), DEBIAN_OVMF_MRTD);
    assert_eq!(regions.len(), 6);
}

/// An independent MRTD in Python's standard library: reads the image from
/// stdin, finds the descriptor through the footer table and hashes it.
const PY_MRTD: &str = r#"
import hashlib, struct, sys
img = sys.stdin.buffer.read()
n = len(img)
FOOTER = bytes.fromhex("de82b596b21ff745baeaa366c55a082d")
TDX = bytes.fromhex("35657ae44a989847865e4685a7bf8ec2")
assert img[n - 48:n - 32] == FOOTER
end = n - 50
start = end - (struct.unpack_from("<H", img, n - 50)[0] - 18)
off = None
while end > start:
    size = struct.unpack_from("<H", img, end - 18)[0]
    if img[end - 16:end] == TDX:
        off = n - struct.unpack_from("<I", img, end - 22)[0]
    end -= size
assert img[off:off + 4] == b"TDVF"
count = struct.unpack_from("<I", img, off + 12)[0]
h = hashlib.sha384()
for i in range(count):
    doff, raw, gpa, msize, typ, attr = struct.unpack_from("<IIQQII", img, off + 16 + 32 * i)
    for p in range(msize // 4096):
        if not attr & 2:
            h.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + struct.pack("<Q", gpa + p * 4096) + bytes(104))
        if attr & 1:
            for c in range(16):
                h.update(b"MR.EXTEND".ljust(16, b"\0") + struct.pack("<Q", gpa + p * 4096 + c * 256) + bytes(104))
                at = doff + p * 4096 + c * 256
                h.update(img[at:at + 256])
print(h.hexdigest())
"#;

fn python_mrtd(image: &[u8]) -> String {
    let out = rvkit_test_support::pipe("python3", &["-c", PY_MRTD], image);
    String::from_utf8(out).unwrap().trim().to_owned()
}

fn entry(guid: &rvkit_launch::Guid, data: &[u8]) -> Vec<u8> {
    let mut e = data.to_vec();
    e.extend_from_slice(&((data.len() + 18) as u16).to_le_bytes());
    e.extend_from_slice(guid.bytes());
    e
}

/// A 64 KiB image with a TDVF descriptor holding one section per attribute
/// combination (0..=3) for each of the given section types.
fn synthetic_tdvf(seed: u64, types: &[u32]) -> Vec<u8> {
    let mut x = seed;
    let mut img: Vec<u8> = (0..16 * 4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let len = img.len();
    let mut sections = Vec::new();
    let mut gpa = 0xffc0_0000u64;
    for (i, &typ) in types.iter().enumerate() {
        for attr in 0..4u32 {
            let pages = 1 + (i as u64 + attr as u64) % 3;
            let data_offset = ((i as u32 * 4 + attr) % 10) * 4096;
            let mut s = Vec::new();
            s.extend_from_slice(&data_offset.to_le_bytes());
            s.extend_from_slice(&((pages * 4096) as u32).to_le_bytes());
            s.extend_from_slice(&gpa.to_le_bytes());
            s.extend_from_slice(&(pages * 4096).to_le_bytes());
            s.extend_from_slice(&typ.to_le_bytes());
            s.extend_from_slice(&attr.to_le_bytes());
            sections.push(s);
            gpa += pages * 4096 + 4096;
        }
    }
    let desc_off = len - 4096 + 32;
    let mut d = guids::TDVF_DESCRIPTOR.bytes().to_vec();
    d.extend_from_slice(b"TDVF");
    d.extend_from_slice(&(16 + 32 * sections.len() as u32).to_le_bytes());
    d.extend_from_slice(&1u32.to_le_bytes());
    d.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    d.extend(sections.concat());
    img[desc_off - 16..desc_off - 16 + d.len()].copy_from_slice(&d);
    let table = entry(&guids::TDX_METADATA, &((len - desc_off) as u32).to_le_bytes());
    let footer = len - 50;
    img[footer - table.len()..footer].copy_from_slice(&table);
    img[footer..footer + 2].copy_from_slice(&((table.len() + 18) as u16).to_le_bytes());
    img[footer + 2..footer + 18].copy_from_slice(guids::FOOTER.bytes());
    img
}

#[test]
fn mrtd_matches_an_independent_implementation_for_every_attribute() {
    if !rvkit_test_support::require("python3") {
        return;
    }
    for (seed, types) in
        [(1u64, vec![0u32]), (2, vec![0, 1, 2, 3]), (3, vec![1, 3, 5]), (4, vec![4, 6, 8, 0])]
    {
        let img = synthetic_tdvf(seed, &types);
        let fw = Firmware::parse(&img).unwrap();
        assert_eq!(fw.tdvf_sections().len(), types.len() * 4);
        assert_eq!(mrtd(&fw).unwrap().0.to_hex(), python_mrtd(&img), "section types {types:?}");
    }
    if let Ok(image) = std::fs::read(DEBIAN_OVMF) {
        assert_eq!(mrtd(&Firmware::parse(&image).unwrap()).unwrap().0.to_hex(), python_mrtd(&image));
    }
}

#[test]
fn rtmr2_of_a_direct_boot_matches_python() {
    if !rvkit_test_support::require("python3") {
        return;
    }
    // sha384 of the UTF-16LE text with its NUL, and the RTMR extend, by Python's hashlib.
    let script = r#"
import hashlib
opts = ("console=hvc0 größe" + " initrd=initrd").encode("utf-16-le") + b"\0\0"
d1 = hashlib.sha384(opts).digest()
d2 = hashlib.sha384(b"initrd bytes").digest()
r = bytes(48)
for d in (d1, d2):
    r = hashlib.sha384(r + d).digest()
print(d1.hex(), r.hex())
"#;
    let text = String::from_utf8(rvkit_test_support::pipe("python3", &["-c", script], b"")).unwrap();
    let (params, rtmr) = text.trim().split_once(' ').unwrap();
    let events = rtmr2_events(Some("console=hvc0 größe"), Some(HashAlg::Sha384.hash(b"initrd bytes")));
    assert_eq!(events[0].digest.to_hex(), params);
    assert_eq!(replay(&events).to_hex(), rtmr);
    assert_eq!(rtmr2_events(None, None), vec![]);
    let _: Digest = replay(&[]);
}
