//! Differential test against sev-snp-measure 0.0.13, AMD's reference
//! implementation of the SEV, SEV-ES and SEV-SNP launch digests (PyPI
//! `sev-snp-measure==0.0.13`). Random cases on Debian's OVMF and on synthetic
//! firmware images must give byte-identical digests. All cases go to one
//! Python process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rvkit_launch::Firmware;
use rvkit_launch::snp::{
    CPU_TYPES, Gctx, SevHashes, VcpuParams, VmmType, cpu_signature, cpu_type_signature, firmware_hash,
    launch_digests, sev_launch_digest,
};

const DEBIAN_OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// Runs each case through `sevsnpmeasure.guest.calc_launch_digest`; one
/// line of JSON per case in, one hex digest (or `error: ...`) per case out.
const ORACLE: &str = r#"
import json, sys
from sevsnpmeasure import guest
from sevsnpmeasure.sev_mode import SevMode
from sevsnpmeasure.vmm_types import VMMType
modes = {"snp": SevMode.SEV_SNP, "sev-es": SevMode.SEV_ES, "sev": SevMode.SEV}
vmms = {"qemu": VMMType.QEMU, "ec2": VMMType.ec2, "gce": VMMType.gce}
for line in sys.stdin:
    c = json.loads(line)
    try:
        d = guest.calc_launch_digest(modes[c["mode"]], c["vcpus"], c["sig"], c["ovmf"], c["kernel"], c["initrd"],
                                     c["append"], c["features"], c["seed"], vmms[c["vmm"]])
        print(d.hex(), flush=True)
    except Exception as e:
        print("error: " + repr(e), flush=True)
"#;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("rvkit-launch-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn oracle_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import sevsnpmeasure"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !rvkit_test_support::services_required(),
            "CI must install python module sevsnpmeasure (tests/data/requirements.txt)"
        );
        eprintln!("skipped: python module sevsnpmeasure is not installed (cargo xtask test installs it)");
    }
    ok
}

/// A footer-table entry: data, u16 size, GUID.
fn entry(guid: &rvkit_launch::Guid, data: &[u8]) -> Vec<u8> {
    let mut e = data.to_vec();
    e.extend_from_slice(&((data.len() + 18) as u16).to_le_bytes());
    e.extend_from_slice(guid.bytes());
    e
}

/// A firmware image of `pages` random pages whose last page carries SEV
/// metadata (with a KERNEL_HASHES section), a reset block, a hash-table
/// location and the footer table, laid out as edk2's ResetVector does.
fn synthetic_ovmf(rng: &mut Rng, pages: usize) -> Vec<u8> {
    use rvkit_launch::ovmf::guids;
    let mut img = rng.bytes(pages * 4096);
    let len = img.len();
    // Sections at random page-aligned GPAs below 16 MiB, in a random order, not overlapping.
    let mut kinds =
        vec![(1u32, 1 + rng.below(9) as u32), (2, 1), (3, 1), (0x10, 1), (1, 1 + rng.below(3) as u32)];
    if rng.below(2) == 0 {
        kinds.push((4, 1));
    }
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut gpa = 0x80_0000u32 + (rng.below(16) as u32) * 4096;
    let mut meta = b"ASEV".to_vec();
    let mut items = Vec::new();
    let mut hashes_gpa = 0;
    for (kind, npages) in &kinds {
        items.extend_from_slice(&gpa.to_le_bytes());
        items.extend_from_slice(&(npages * 4096).to_le_bytes());
        items.extend_from_slice(&kind.to_le_bytes());
        if *kind == 0x10 {
            // Anywhere the 176-byte table fits in the page.
            hashes_gpa = gpa + (rng.below(3920 / 16) as u32) * 16;
        }
        gpa += npages * 4096 + (rng.below(3) as u32) * 4096;
    }
    meta.extend_from_slice(&(16 + items.len() as u32).to_le_bytes());
    meta.extend_from_slice(&1u32.to_le_bytes());
    meta.extend_from_slice(&(kinds.len() as u32).to_le_bytes());
    meta.extend_from_slice(&items);
    let meta_off = len - 4096 + 64;
    img[meta_off..meta_off + meta.len()].copy_from_slice(&meta);
    let ap_eip = 0xffff_0000u32 | (rng.below(0x1000) as u32 * 16);
    let mut table = Vec::new();
    table.extend(entry(&guids::SEV_METADATA, &((len - meta_off) as u32).to_le_bytes()));
    let mut hash_loc = hashes_gpa.to_le_bytes().to_vec();
    hash_loc.extend_from_slice(&0x400u32.to_le_bytes());
    table.extend(entry(&guids::SEV_HASH_TABLE, &hash_loc));
    table.extend(entry(&guids::SEV_ES_RESET_BLOCK, &ap_eip.to_le_bytes()));
    let footer = len - 32 - 18;
    img[footer - table.len()..footer].copy_from_slice(&table);
    img[footer..footer + 2].copy_from_slice(&((table.len() + 18) as u16).to_le_bytes());
    img[footer + 2..footer + 18].copy_from_slice(guids::FOOTER.bytes());
    img
}

struct Case {
    mode: &'static str,
    ovmf: PathBuf,
    vcpus: u32,
    sig: u32,
    features: u64,
    vmm: VmmType,
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    append: Option<String>,
    seeded: bool,
}

const CMDLINES: [&str; 5] = [
    "",
    "console=ttyS0 root=/dev/vda1",
    "agent.log=debug nr_cpus=4 quiet panic=1 systemd.unit=kata-containers.target",
    "name=größe ключ=значение 名前",
    "a",
];

fn ours(c: &Case) -> String {
    let image = std::fs::read(&c.ovmf).unwrap();
    let fw = Firmware::parse(&image).unwrap();
    let hashes = c.kernel.as_ref().map(|k| {
        let initrd = c.initrd.as_ref().map(|i| std::fs::read(i).unwrap());
        SevHashes::new(&std::fs::read(k).unwrap(), initrd.as_deref(), c.append.as_deref())
    });
    match c.mode {
        "snp" => {
            let base = if c.seeded {
                let seed = firmware_hash(&fw, false).finish().launch_digest();
                Gctx::seeded(seed.as_bytes().try_into().unwrap(), false)
            } else {
                firmware_hash(&fw, false)
            };
            let params = VcpuParams { vmm: c.vmm, signature: c.sig, guest_features: c.features };
            let v = launch_digests(&base, &fw, &params, c.vcpus..=c.vcpus, &|_| hashes.clone()).unwrap();
            v[0].1.launch_digest().to_hex()
        }
        "sev-es" => sev_launch_digest(&fw, hashes.as_ref(), Some((c.vmm, c.sig, c.vcpus))).unwrap().to_hex(),
        _ => sev_launch_digest(&fw, hashes.as_ref(), None).unwrap().to_hex(),
    }
}

fn theirs(cases: &[Case], seeds: &[Option<String>]) -> Vec<String> {
    let mut input = String::new();
    for (c, seed) in cases.iter().zip(seeds) {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let line = serde_json::json!({
            "mode": c.mode, "vcpus": c.vcpus, "sig": c.sig, "ovmf": c.ovmf.display().to_string(),
            "kernel": path(&c.kernel), "initrd": path(&c.initrd), "append": c.append, "features": c.features,
            "seed": seed.clone().unwrap_or_default(), "vmm": c.vmm.name(),
        });
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let out = rvkit_test_support::pipe("python3", &["-c", ORACLE], input.as_bytes());
    String::from_utf8(out).unwrap().lines().map(str::to_owned).collect()
}

fn random_case(rng: &mut Rng, ovmf: &Path, kernels: &[PathBuf], with_kernel: bool) -> Case {
    let mode = match rng.below(10) {
        0 => "sev",
        1 => "sev-es",
        _ => "snp",
    };
    let sig = if rng.below(5) == 0 {
        cpu_signature(16 + rng.below(16) as u32, rng.below(256) as u32, rng.below(16) as u32)
    } else {
        cpu_type_signature(CPU_TYPES[rng.below(CPU_TYPES.len() as u64) as usize].0).unwrap()
    };
    let features = match rng.below(3) {
        0 => 0x1,
        1 => 0x21,
        _ => rng.next() & 0xffff,
    };
    let vmm = [VmmType::Qemu, VmmType::Ec2, VmmType::Gce][rng.below(3) as usize];
    let (kernel, initrd, append) = if with_kernel && rng.below(4) != 0 {
        let k = kernels[rng.below(kernels.len() as u64) as usize].clone();
        let i = (rng.below(3) != 0).then(|| kernels[rng.below(kernels.len() as u64) as usize].clone());
        let a = (rng.below(4) != 0).then(|| CMDLINES[rng.below(CMDLINES.len() as u64) as usize].to_owned());
        (Some(k), i, a)
    } else {
        (None, None, None)
    };
    Case {
        mode,
        ovmf: ovmf.to_owned(),
        vcpus: 1 + rng.below(64) as u32,
        sig,
        features,
        vmm,
        kernel,
        initrd,
        append,
        seeded: mode == "snp" && rng.below(3) == 0,
    }
}

#[test]
fn launch_digests_match_sev_snp_measure() {
    if !oracle_available() {
        return;
    }
    let dir = TempDir::new("snp");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let kernels: Vec<PathBuf> = [0usize, 1, 4095, 70_001]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let p = dir.0.join(format!("blob{i}"));
            std::fs::write(&p, rng.bytes(n)).unwrap();
            p
        })
        .collect();
    let mut cases = Vec::new();
    let debian = Path::new(DEBIAN_OVMF);
    if debian.exists() {
        for _ in 0..60 {
            cases.push(random_case(&mut rng, debian, &kernels, false));
        }
    } else {
        assert!(!rvkit_test_support::services_required(), "CI must install Debian's ovmf package");
        eprintln!("skipped the Debian firmware cases: {DEBIAN_OVMF} is not installed (package ovmf)");
    }
    for i in 0..12 {
        let p = dir.0.join(format!("ovmf{i}.fd"));
        let pages = 2 + rng.below(30) as usize;
        std::fs::write(&p, synthetic_ovmf(&mut rng, pages)).unwrap();
        for _ in 0..8 {
            cases.push(random_case(&mut rng, &p, &kernels, true));
        }
    }
    assert!(cases.len() >= 150);
    // The oracle takes the seed as hex, which it computes from the file for us only via its CLI.
    let seeds: Vec<Option<String>> = cases
        .iter()
        .map(|c| {
            c.seeded.then(|| {
                let image = std::fs::read(&c.ovmf).unwrap();
                firmware_hash(&Firmware::parse(&image).unwrap(), false).finish().launch_digest().to_hex()
            })
        })
        .collect();
    let expected = theirs(&cases, &seeds);
    assert_eq!(expected.len(), cases.len());
    let mut kernels_seen = 0;
    for (c, want) in cases.iter().zip(&expected) {
        assert!(!want.starts_with("error"), "oracle failed on a case: {want}");
        kernels_seen += usize::from(c.kernel.is_some());
        assert_eq!(
            &ours(c),
            want,
            "mode {} vcpus {} sig {:#x} features {:#x} vmm {:?} kernel {:?} initrd {:?} append {:?} seeded {} ovmf {}",
            c.mode,
            c.vcpus,
            c.sig,
            c.features,
            c.vmm,
            c.kernel,
            c.initrd,
            c.append,
            c.seeded,
            c.ovmf.display()
        );
    }
    assert!(kernels_seen >= 30, "{kernels_seen} cases with a kernel");
}
