//! `rvkit launch snp|tdx` through the binary: whole outputs compared with
//! values from independent oracles (sev-snp-measure 0.0.13, the pinned MRTD
//! of Debian's OVMF from td-shim's reference script, Python's hashlib).

use std::path::Path;
use std::process::Command;

use crate::util::{fails, ok, rvkit_in, services_required, tempdir};

pub(crate) const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
/// Debian 12 `ovmf` 2022.11-6+deb12u2 `/usr/share/ovmf/OVMF.fd`.
const OVMF_SHA256: &str = "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773";
/// Its MRTD by td-shim's `td_shim_tee_info_hash.py` (issue 12).
pub(crate) const OVMF_MRTD: &str =
    "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47";

pub(crate) fn python(script: &str) -> Option<String> {
    let out = Command::new("python3").args(["-c", script]).output().ok()?;
    out.status.success().then(|| String::from_utf8(out.stdout).unwrap())
}

/// Debian's OVMF with the pinned sha256, or a skip line (never in CI).
pub(crate) fn debian_ovmf() -> bool {
    let sha = Command::new("sha256sum").arg(OVMF).output().ok().filter(|o| o.status.success());
    let ok = sha.is_some_and(|o| String::from_utf8_lossy(&o.stdout).starts_with(OVMF_SHA256));
    if !ok {
        assert!(!services_required(), "CI must install Debian 12's ovmf package");
        eprintln!("skipped: {OVMF} is missing or not Debian 12's 2022.11-6+deb12u2 build");
    }
    ok
}

pub(crate) fn sev_snp_measure(script: &str) -> Option<String> {
    let out = python(&format!(
        "from sevsnpmeasure import guest\nfrom sevsnpmeasure.sev_mode import SevMode\n{script}"
    ));
    if out.is_none() {
        assert!(!services_required(), "CI must install sev-snp-measure==0.0.13");
        eprintln!("skipped: sev-snp-measure 0.0.13 is not installed");
    }
    out
}

#[test]
fn snp_range_matches_sev_snp_measure() {
    if !debian_ovmf() {
        return;
    }
    let Some(expected) = sev_snp_measure(&format!(
        "print(guest.calc_snp_ovmf_hash('{OVMF}').hex())\n\
         for n in (1, 2, 3):\n    print(guest.calc_launch_digest(SevMode.SEV_SNP, n, 0xa10f10, '{OVMF}', None, None, None, 0x21).hex())"
    )) else {
        return;
    };
    let lines: Vec<&str> = expected.lines().collect();
    let dir = tempdir();
    let out = ok(rvkit_in(
        dir.path(),
        &[
            "launch",
            "snp",
            "--ovmf",
            OVMF,
            "--vcpus",
            "1-3",
            "--vcpu-type",
            "EPYC-Genoa",
            "--guest-features",
            "0x21",
        ],
    ));
    assert_eq!(
        out,
        format!(
            "SEV-SNP launch measurement: vmm qemu, vCPU EPYC-Genoa (0xa10f10), guest features 0x21, kernel hashes off\n\
             firmware hash {}\nvcpus   1  {}\nvcpus   2  {}\nvcpus   3  {}\n",
            lines[0], lines[1], lines[2], lines[3]
        )
    );
    // Seeded from the firmware hash, with the explicit family/model/stepping of EPYC-v4.
    let seeded = ok(rvkit_in(
        dir.path(),
        &[
            "launch",
            "snp",
            "--ovmf",
            OVMF,
            "--vcpus",
            "2",
            "--vcpu-family",
            "23",
            "--vcpu-model",
            "1",
            "--vcpu-stepping",
            "2",
            "--vmm",
            "ec2",
            "--ovmf-hash",
            lines[0],
            "--json",
        ],
    ));
    let Some(ec2) = sev_snp_measure(&format!(
        "from sevsnpmeasure.vmm_types import VMMType\n\
         print(guest.calc_launch_digest(SevMode.SEV_SNP, 2, 0x800f12, '{OVMF}', None, None, None, 0x1, vmm_type=VMMType.ec2).hex())"
    )) else {
        return;
    };
    assert_eq!(
        seeded,
        format!(
            "{{\n  \"vmm\": \"ec2\",\n  \"vcpu_type\": null,\n  \"vcpu_signature\": 8392466,\n  \"guest_features\": 1,\n  \
             \"firmware_hash\": \"{}\",\n  \"kernel_hashes\": false,\n  \"values\": [\n    {{\n      \"vcpus\": 2,\n      \
             \"launch_measurement\": \"{}\"\n    }}\n  ]\n}}\n",
            lines[0],
            ec2.trim()
        )
    );
}

/// Debian's kernel image (package linux-image-amd64), a signed PE file:
/// the newest `/boot/vmlinuz-*`, or a skip line (never in CI).
pub(crate) fn debian_kernel() -> Option<std::path::PathBuf> {
    let mut k: Vec<_> = std::fs::read_dir("/boot")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .collect();
    k.sort();
    let newest = k.pop();
    if newest.is_none() {
        assert!(!services_required(), "CI must install linux-image-amd64");
        eprintln!("skipped: no /boot/vmlinuz-* (package linux-image-amd64)");
    }
    newest
}

#[test]
fn tdx_values_and_transcript() {
    if !debian_ovmf() {
        return;
    }
    let Some(kernel) = debian_kernel() else { return };
    // The kernel's Authenticode SHA-384 by signify (the script rvkit-pe's oracle test runs).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/pe/tests/signify_authentihash.py");
    let out = Command::new("python3").arg(&script).arg(&kernel).output().expect("python3 runs");
    if !out.status.success() {
        assert!(!services_required(), "CI must install signify");
        eprintln!("skipped: signify is not installed");
        return;
    }
    let auth = String::from_utf8(out.stdout).unwrap().split_whitespace().nth(1).unwrap().to_owned();
    let dir = tempdir();
    std::fs::write(dir.path().join("initrd"), b"initrd bytes").unwrap();
    let folds = python(&format!(
        "import hashlib\n\
         s = lambda b: hashlib.sha384(b).digest()\n\
         def fold(ds):\n    r = bytes(48)\n    for d in ds:\n        r = hashlib.sha384(r + d).digest()\n    return r.hex()\n\
         acts = [s(b'Calling EFI Application from Boot Option'), s(bytes(4)), s(b'Exit Boot Services Invocation'),\n\
                 s(b'Exit Boot Services Returned with Success')]\n\
         r1 = [bytes.fromhex('{auth}')] + acts\n\
         d1 = s(('console=hvc0 größe initrd=initrd').encode('utf-16-le') + b'\\0\\0')\n\
         d2 = s(b'initrd bytes')\n\
         print(fold(r1), *[a.hex() for a in acts], fold([d1, d2]), d1.hex(), d2.hex())",
    ))
    .expect("python3 runs");
    let v: Vec<&str> = folds.split_whitespace().collect();
    let kernel = kernel.display().to_string();
    let out = ok(rvkit_in(
        dir.path(),
        &[
            "launch",
            "tdx",
            "--ovmf",
            OVMF,
            "--kernel",
            &kernel,
            "--initrd",
            "initrd",
            "--append",
            "console=hvc0 größe",
            "--transcript",
        ],
    ));
    assert_eq!(
        out,
        format!(
            "mr_td {OVMF_MRTD}\n\
             \x20 BFV          0x0000ffe20000-0x000100000000 480 pages PAGE.ADD+MR.EXTEND\n\
             \x20 CFV          0x0000ffe00000-0x0000ffe20000 32 pages PAGE.ADD\n\
             \x20 TempMem      0x000000810000-0x000000820000 16 pages PAGE.ADD\n\
             \x20 TempMem      0x00000080b000-0x00000080d000 2 pages PAGE.ADD\n\
             \x20 TD_HOB       0x000000809000-0x00000080b000 2 pages PAGE.ADD\n\
             \x20 TempMem      0x000000800000-0x000000806000 6 pages PAGE.ADD\n\
             rtmr_1 {}\n  File(kernel) Authenticode {auth}\n  Calling EFI Application from Boot Option {}\n\
             \x20 separator {}\n  Exit Boot Services Invocation {}\n  Exit Boot Services Returned with Success {}\n\
             tdvfkernel {auth}\n\
             rtmr_2 {}\n  LOADED_IMAGE::LoadOptions {}\n  Linux initrd {}\ntdvfkernelparams {}\n",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[6]
        )
    );
    // A kernel that is not a PE file is refused.
    std::fs::write(dir.path().join("not-pe"), b"kernel").unwrap();
    let err = fails(rvkit_in(dir.path(), &["launch", "tdx", "--ovmf", OVMF, "--kernel", "not-pe"]), 2);
    assert!(err.starts_with("error: not-pe: "), "{err}");
}

fn rv_file(dir: &Path, name: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--format", "array", "--expiration", "9027-01-01T00:00:00Z", "-o", name]);
    assert_eq!(ok(rvkit_in(dir, &all)), "");
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn reference_values_merge_with_rvps() {
    if !debian_ovmf() {
        return;
    }
    let dir = tempdir();
    let tdx = rv_file(dir.path(), "tdx.json", &["launch", "tdx", "--ovmf", OVMF]);
    assert_eq!(
        tdx,
        format!(
            "[\n  {{\n    \"name\": \"mr_td\",\n    \"expiration\": \"9027-01-01T00:00:00Z\",\n    \
             \"value\": [\n      \"{OVMF_MRTD}\"\n    ]\n  }}\n]\n"
        )
    );
    // The flag's first name still works.
    let mut alias = vec!["launch", "tdx", "--ovmf", OVMF, "--reference-values", "array"];
    alias.extend(["--expiration", "9027-01-01T00:00:00Z"]);
    assert_eq!(ok(rvkit_in(dir.path(), &alias)), tdx);
    let b64 = ok(rvkit_in(
        dir.path(),
        &[
            "launch",
            "tdx",
            "--ovmf",
            OVMF,
            "--format",
            "kv",
            "--base64",
            "--expiration",
            "9027-01-01T00:00:00Z",
        ],
    ));
    let decoded = python(&format!(
        "import base64, json\nkv = json.loads({b64:?})\nrv = json.loads(base64.urlsafe_b64decode(kv['mr_td']))\n\
         print(base64.b64decode(rv['value'][0]).hex())"
    ))
    .expect("python3 runs");
    assert_eq!(decoded.trim(), OVMF_MRTD);
    rv_file(dir.path(), "snp.json", &["launch", "snp", "--ovmf", OVMF, "--vcpus", "1-2", "--kata"]);
    let merged = ok(rvkit_in(dir.path(), &["rvps", "merge", "snp.json", "tdx.json"]));
    let names = python(&format!(
        "import json\nprint(' '.join(f\"{{r['name']}}:{{len(r['value'])}}\" for r in json.loads({merged:?})))"
    ))
    .expect("python3 runs");
    assert_eq!(names.trim(), "snp_launch_measurement:2 mr_td:1");
}

#[test]
fn bad_input_exits_2_without_output() {
    let dir = tempdir();
    std::fs::write(dir.path().join("zeros.fd"), vec![0u8; 8192]).unwrap();
    std::fs::write(dir.path().join("k"), b"kernel").unwrap();
    let snp = |extra: &[&str]| {
        let mut a = vec!["launch", "snp", "--ovmf", "zeros.fd", "--vcpu-type", "EPYC"];
        a.extend(extra);
        fails(rvkit_in(dir.path(), &a), 2)
    };
    assert_eq!(
        snp(&[]),
        "error: zeros.fd: no OVMF footer table (GUID 96b582de-1fb2-45f7-baea-a366c55a082d expected at offset 0x1fd0)\n"
    );
    assert_eq!(snp(&["--vcpus", "0"]), "error: --vcpus \"0\": vCPU count 0 is out of range 1-512\n");
    assert_eq!(
        snp(&["--vcpus", "1-513"]),
        "error: --vcpus \"1-513\": vCPU count 513 is out of range 1-512\n"
    );
    let unknown =
        fails(rvkit_in(dir.path(), &["launch", "snp", "--ovmf", "zeros.fd", "--vcpu-type", "EPYC-Foo"]), 2);
    assert!(
        unknown.starts_with("error: --vcpu-type: unknown vCPU type \"EPYC-Foo\" (known: EPYC, "),
        "{unknown}"
    );
    assert_eq!(
        fails(rvkit_in(dir.path(), &["launch", "tdx", "--ovmf", "missing.fd"]), 2)
            .lines()
            .next()
            .unwrap_or_default(),
        "error: cannot read missing.fd: No such file or directory (os error 2)"
    );
    if Path::new(OVMF).exists() {
        let out =
            rvkit_in(dir.path(), &["launch", "snp", "--ovmf", OVMF, "--kernel", "k", "--vcpu-type", "EPYC"]);
        assert_eq!(
            fails(out, 2),
            format!(
                "error: {OVMF}: a kernel was given but the firmware has no SNP_KERNEL_HASHES metadata section\n"
            )
        );
    }
}

/// A policy in the style of Trustee's default CPU policy that reads the launch values.
const LAUNCH_POLICY: &str = r#"package policy

import rego.v1

default executables := 33

default hardware := 97

default configuration := 36

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
}

executables := 3 if {
	input.snp.measurement in query_reference_value("snp_launch_measurement")
}

executables := 3 if {
	input.tdx.quote.body.mr_td in query_reference_value("mr_td")
}

hardware := 2 if {
	input.snp
}

hardware := 2 if {
	input.tdx
}

configuration := 2 if {
	input.snp
}

configuration := 2 if {
	input.tdx
}
"#;

#[test]
fn rvps_check_reads_launch_values() {
    if !debian_ovmf() {
        return;
    }
    // The claim: sev-snp-measure's digest for 3 vCPUs of kata's EPYC-v4.
    let Some(m3) = sev_snp_measure(&format!(
        "print(guest.calc_launch_digest(SevMode.SEV_SNP, 3, 0x800f12, '{OVMF}', None, None, None, 0x1).hex())"
    )) else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    rv_file(d, "snp.json", &["launch", "snp", "--ovmf", OVMF, "--vcpus", "1-4", "--kata"]);
    rv_file(d, "tdx.json", &["launch", "tdx", "--ovmf", OVMF]);
    ok(rvkit_in(d, &["rvps", "merge", "snp.json", "tdx.json", "-o", "rv.json"]));
    std::fs::write(d.join("policy.rego"), LAUNCH_POLICY).unwrap();
    std::fs::write(d.join("snp-claims.json"), format!("{{\"snp\":{{\"measurement\":\"{}\"}}}}", m3.trim()))
        .unwrap();
    std::fs::write(
        d.join("tdx-claims.json"),
        format!("{{\"tdx\":{{\"quote\":{{\"body\":{{\"mr_td\":\"{OVMF_MRTD}\"}}}}}}}}"),
    )
    .unwrap();
    for (claims, tee) in [("snp-claims.json", "snp"), ("tdx-claims.json", "tdx")] {
        let out = ok(rvkit_in(
            d,
            &[
                "rvps",
                "check",
                "--claims",
                claims,
                "--reference-values",
                "rv.json",
                "--policy",
                "policy.rego",
            ],
        ));
        assert_eq!(
            out,
            format!(
                "verdict: affirming (configuration 2, executables 3, hardware 2)\npolicy: policy.rego (Rego)\n\
                 claims: {claims} ({tee})\nreference values: rv.json (array format, 2 names)\n1 comparisons, 0 failed\n"
            )
        );
    }
}

/// Writes `ovmf.fd`: 16 random pages whose footer table points to SEV metadata
/// with a KERNEL_HASHES section (Debian 12's OVMF has none), then prints
/// sev-snp-measure's digest for 1-3 vCPUs with `nr_cpus=N` in the command line.
const KATA_ORACLE: &str = r#"
import random, struct, uuid
from sevsnpmeasure import guest
from sevsnpmeasure.sev_mode import SevMode
def g(s): return uuid.UUID(s).bytes_le
def entry(guid, data): return data + struct.pack('<H', len(data) + 18) + g(guid)
rnd = random.Random(7)
img = bytearray(rnd.getrandbits(8) for _ in range(16 * 4096))
n = len(img)
items = [(0x800000, 0x3000, 1), (0x803000, 0x1000, 2), (0x804000, 0x1000, 3), (0x805000, 0x1000, 0x10)]
meta = b'ASEV' + struct.pack('<III', 16 + 12 * len(items), 1, len(items)) + b''.join(struct.pack('<III', *i) for i in items)
img[n - 4096 + 64:n - 4096 + 64 + len(meta)] = meta
table = (entry('dc886566-984a-4798-a75e-5585a7bf67cc', struct.pack('<I', 4096 - 64))
         + entry('7255371f-3a3b-4b04-927b-1da6efa8d454', struct.pack('<II', 0x805c00, 0x400))
         + entry('00f771de-1a7e-4fcb-890e-68c77e2fb44e', struct.pack('<I', 0xffffb004)))
img[n - 50 - len(table):n - 50] = table
img[n - 50:n - 32] = struct.pack('<H', len(table) + 18) + g('96b582de-1fb2-45f7-baea-a366c55a082d')
open('ovmf.fd', 'wb').write(img)
open('vmlinuz', 'wb').write(b'kernel bytes')
for cpus in (1, 2, 3):
    line = 'quiet nr_cpus=%d agent.log=debug' % cpus
    print(guest.calc_launch_digest(SevMode.SEV_SNP, cpus, 0x800f12, 'ovmf.fd', 'vmlinuz', None, line, 0x1).hex())
"#;

#[test]
fn kata_nr_cpus_follows_the_vcpu_count() {
    let dir = tempdir();
    let d = dir.path();
    let out =
        Command::new("python3").args(["-c", KATA_ORACLE]).current_dir(d).output().expect("python3 runs");
    if !out.status.success() {
        assert!(!services_required(), "CI must install sev-snp-measure==0.0.13");
        eprintln!("skipped: sev-snp-measure 0.0.13 is not installed");
        return;
    }
    let want: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    let json = ok(rvkit_in(
        d,
        &[
            "launch",
            "snp",
            "--ovmf",
            "ovmf.fd",
            "--kernel",
            "vmlinuz",
            "--append",
            "quiet nr_cpus=64 agent.log=debug",
            "--vcpus",
            "1-3",
            "--kata",
            "--format",
            "sample",
        ],
    ));
    let got = python(&format!(
        "import base64, json\nprint('\\n'.join(json.loads(base64.b64decode(json.loads({json:?})['payload']))['snp_launch_measurement']))"
    ))
    .expect("python3 runs");
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
}

#[test]
fn sev_and_sev_es_match_sev_snp_measure() {
    if !debian_ovmf() {
        return;
    }
    let Some(es) = sev_snp_measure(&format!(
        "print(guest.calc_launch_digest(SevMode.SEV_ES, 3, 0xa00f11, '{OVMF}', None, None, None, 0).hex())"
    )) else {
        return;
    };
    let dir = tempdir();
    // Without a kernel the SEV digest is the SHA-256 of the firmware file.
    assert_eq!(
        ok(rvkit_in(dir.path(), &["launch", "sev", "--ovmf", OVMF])),
        format!("SEV launch digest: kernel hashes off\n{OVMF_SHA256}\n")
    );
    assert_eq!(
        ok(rvkit_in(
            dir.path(),
            &["launch", "sev", "--ovmf", OVMF, "--es", "--vcpus", "3", "--vcpu-type", "EPYC-Milan"]
        )),
        format!("SEV-ES launch digest: vmm qemu, 3 vCPUs, signature 0xa00f11, kernel hashes off\n{es}")
    );
}

/// `rvkit rvps check --launch-snp` on evidence whose measurement is none of
/// the published values: sev-snp-measure's digest of another shape is
/// traced to that shape (vCPU count, CPU model, guest features; with kata's
/// `nr_cpus=` following the count), also when the claim is base64 (Trustee
/// v0.17 and earlier), and a digest outside the searched shapes is said to be so.
#[test]
fn rvps_check_names_the_launch_shape_of_a_failing_measurement() {
    if !debian_ovmf() {
        return;
    }
    // The evidence: 4 vCPUs of EPYC-Milan with guest features 0x1, and with 0x5 (never searched).
    let Some(oracle) = sev_snp_measure(&format!(
        "import base64\n\
         d = guest.calc_launch_digest(SevMode.SEV_SNP, 4, 0xa00f11, '{OVMF}', None, None, None, 0x1)\n\
         print(d.hex())\nprint(base64.b64encode(d).decode())\n\
         print(guest.calc_launch_digest(SevMode.SEV_SNP, 4, 0xa00f11, '{OVMF}', None, None, None, 0x5).hex())"
    )) else {
        return;
    };
    let evidence: Vec<&str> = oracle.lines().collect();
    let dir = tempdir();
    let d = dir.path();
    rv_file(d, "rv.json", &["launch", "snp", "--ovmf", OVMF, "--vcpus", "8", "--vcpu-type", "EPYC-v4"]);
    let published = std::fs::read_to_string(d.join("rv.json")).unwrap();
    let published =
        published.lines().find(|l| l.trim().len() == 98).unwrap().trim().trim_matches('"').to_owned();
    std::fs::write(d.join("policy.rego"), LAUNCH_POLICY).unwrap();
    let launch = format!("ovmf={OVMF},vcpus=8,vcpu_type=EPYC-v4");
    let check = |claim: &str| {
        std::fs::write(d.join("claims.json"), format!("{{\"snp\":{{\"measurement\":\"{claim}\"}}}}"))
            .unwrap();
        let args = [
            "rvps",
            "check",
            "--claims",
            "claims.json",
            "--reference-values",
            "rv.json",
            "--policy",
            "policy.rego",
            "--launch-snp",
            &launch,
        ];
        let out = rvkit_in(d, &args);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let report = |claim: &str, hint: &str| {
        format!(
            "verdict: warning (configuration 2, executables 33, hardware 2)\npolicy: policy.rego (Rego)\n\
             claims: claims.json (snp)\nreference values: rv.json (array format, 1 names)\n\
             failed (policy line 18): input.snp.measurement in query_reference_value(\"snp_launch_measurement\")\n  \
             claim value: {claim}\n  allowed (snp_launch_measurement): [\"{published}\"]\n  hint: {hint}\n\
             1 comparisons, 1 failed\n"
        )
    };
    let found = "the evidence's measurement equals the one for 4 vCPUs, EPYC-Milan (0xa00f11), guest features 0x1, \
                 vmm qemu (you configured 8 vCPUs, EPYC-v4 (0x800f12), guest features 0x1, vmm qemu)";
    assert_eq!(check(evidence[0]), report(evidence[0], found));
    assert_eq!(check(evidence[1]), report(evidence[1], found));
    let none = "no nearby candidate: none of 1920 launch digests (vCPUs 1-64; CPU models EPYC-v4, EPYC-Rome, \
                EPYC-Milan, EPYC-Genoa, EPYC-Turin; guest features 0x1, 0x21; vmm qemu, ec2, gce) equals the \
                evidence's measurement, so the firmware, kernel, initrd or command line differ from the launch inputs";
    assert_eq!(check(evidence[2]), report(evidence[2], none));
}

/// With kata, the measured command line's `nr_cpus=` follows the count, so
/// each count of the search measures its own hashes page: sev-snp-measure's
/// digest for 3 vCPUs (`nr_cpus=3`) is found from a configuration of 1-2.
#[test]
fn rvps_check_follows_kata_nr_cpus_in_the_search() {
    let dir = tempdir();
    let d = dir.path();
    let Some(oracle) =
        sev_snp_measure(&format!("import os\nos.chdir({:?})\n{KATA_ORACLE}", d.display().to_string()))
    else {
        return;
    };
    let three = oracle.lines().nth(2).unwrap().to_owned();
    let launch = "ovmf=ovmf.fd,kernel=vmlinuz,append=quiet nr_cpus=1 agent.log=debug,vcpus=1-2,kata=true";
    let mut rv =
        vec!["launch", "snp", "--vcpus", "1-2", "--kata", "--ovmf", "ovmf.fd", "--kernel", "vmlinuz"];
    rv.extend(["--append", "quiet nr_cpus=1 agent.log=debug"]);
    rv_file(d, "rv.json", &rv);
    std::fs::write(d.join("policy.rego"), LAUNCH_POLICY).unwrap();
    std::fs::write(d.join("claims.json"), format!("{{\"snp\":{{\"measurement\":\"{three}\"}}}}")).unwrap();
    let args = [
        "rvps",
        "check",
        "--claims",
        "claims.json",
        "--reference-values",
        "rv.json",
        "--policy",
        "policy.rego",
        "--launch-snp",
        launch,
        "--json",
    ];
    let out = rvkit_in(d, &args);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["failed"][0]["hints"],
        serde_json::json!([
            "the evidence's measurement equals the one for 3 vCPUs, EPYC-v4 (0x800f12), guest features 0x1, vmm qemu \
             (you configured 1-2 vCPUs, EPYC-v4 (0x800f12), guest features 0x1, vmm qemu)"
        ])
    );
    assert_eq!(
        report["failed"][0]["launch_candidates"],
        serde_json::json!({
            "configured": {"vcpus": "1-2", "vcpu_type": "EPYC-v4", "vcpu_signature": 0x800f12, "guest_features": 1, "vmm": "qemu"},
            "searched": 1920,
            "space": "vCPUs 1-64; CPU models EPYC-v4, EPYC-Rome, EPYC-Milan, EPYC-Genoa, EPYC-Turin; guest features 0x1, 0x21; vmm qemu, ec2, gce",
            "matches": [{"vcpus": "3", "vcpu_type": "EPYC-v4", "vcpu_signature": 0x800f12, "guest_features": 1, "vmm": "qemu"}],
        })
    );
}

/// What older QEMU writes into a bzImage's setup header before OVMF
/// measures it, written here from the Linux x86 boot protocol
/// (`Documentation/arch/x86/boot.rst`: field offsets, `HdrS`, xloadflags bit
/// 1 XLF_CAN_BE_LOADED_ABOVE_4G) and QEMU's loader rules (`x86_load_linux`:
/// the three real-mode/command-line layouts, type_of_loader 0xb0,
/// CAN_USE_HEAP and heap_end_ptr, the initrd below the ACPI data, 0x28000
/// bytes, at the top of a q35 machine's memory under 4 GiB), then hashed
/// by signify, and RTMR1 replayed with hashlib. Prints one line per case:
/// the patched kernel's Authenticode SHA-384 and RTMR1.
const QEMU_PATCH_ORACLE: &str = r#"
import hashlib, struct, sys, types
sys.modules['oscrypto.asymmetric'] = types.ModuleType('oscrypto.asymmetric')
from signify.authenticode.signed_file.pe import SignedPEFingerprinter
import io

def patched(kernel, cmdline, initrd_size, mem_mib):
    k = bytearray(kernel)
    assert k[0x202:0x206] == b'HdrS'
    version = struct.unpack_from('<H', k, 0x206)[0]
    loadflags = k[0x211]
    cmdline_size = (len(cmdline.encode()) + 16) & ~15
    if version < 0x200 or not loadflags & 0x01:      # zImage, loaded low
        real_addr, cmdline_addr = 0x90000, 0x9a000 - cmdline_size
    elif version < 0x202:                              # bzImage, old protocol
        real_addr, cmdline_addr = 0x90000, 0x9a000 - cmdline_size
    else:
        real_addr, cmdline_addr = 0x10000, 0x20000
    xloadflags = struct.unpack_from('<H', k, 0x236)[0]
    if version >= 0x20c and xloadflags & (1 << 1):
        initrd_max = 0xffffffff
    elif version >= 0x203:
        initrd_max = struct.unpack_from('<I', k, 0x22c)[0]
    else:
        initrd_max = 0x37ffffff
    mem = mem_mib * 1024 * 1024
    lowmem = 0x80000000 if mem >= 0xb0000000 else 0xb0000000
    below_4g = min(mem, lowmem)
    acpi = 0x20000 + 0x8000
    if initrd_max >= below_4g - acpi:
        initrd_max = below_4g - acpi - 1
    if version >= 0x202:
        struct.pack_into('<I', k, 0x228, cmdline_addr)          # cmd_line_ptr
    else:
        struct.pack_into('<HH', k, 0x20, 0xa33f, cmdline_addr - real_addr)
    if version >= 0x200:
        k[0x210] = 0xb0                                        # type_of_loader: QEMU
    if version >= 0x201:
        k[0x211] |= 0x80                                       # CAN_USE_HEAP
        struct.pack_into('<H', k, 0x224, cmdline_addr - real_addr - 0x200)  # heap_end_ptr
    if initrd_size is not None:
        struct.pack_into('<II', k, 0x218, (initrd_max - initrd_size) & ~4095, initrd_size)
    return bytes(k)

def authenticode(data):
    fp = SignedPEFingerprinter(io.BytesIO(data)); fp.add_signed_pe_hashers(hashlib.sha384)
    return fp.hashes()['authentihash']['sha384']

s = lambda b: hashlib.sha384(b).digest()
def fold(ds):
    r = bytes(48)
    for d in ds:
        r = hashlib.sha384(r + d).digest()
    return r.hex()
acts = [s(b'Calling EFI Application from Boot Option'), s(bytes(4)), s(b'Exit Boot Services Invocation'),
        s(b'Exit Boot Services Returned with Success')]
kernel = open(sys.argv[1], 'rb').read()
# The same kernel without XLF_CAN_BE_LOADED_ABOVE_4G and with a low initrd_addr_max.
other = bytearray(kernel)
struct.pack_into('<H', other, 0x236, struct.unpack_from('<H', other, 0x236)[0] & ~2)
struct.pack_into('<I', other, 0x22c, 0x37ffffff)
open('other-vmlinuz', 'wb').write(other)
for k, cmdline, initrd, mem in [(kernel, 'console=hvc0', 12, 2048), (kernel, 'quiet', None, 4096),
                                (bytes(other), 'console=hvc0', 12, 4096), (kernel, 'x' * 300, 12, 1024)]:
    a = authenticode(patched(k, cmdline, initrd, mem))
    print(a.hex(), fold([a] + acts))
"#;

#[test]
fn qemu_kernel_patch_matches_an_independent_patcher() {
    if !debian_ovmf() {
        return;
    }
    let Some(kernel) = debian_kernel() else { return };
    let dir = tempdir();
    let d = dir.path();
    let out =
        Command::new("python3").args(["-c", QEMU_PATCH_ORACLE]).arg(&kernel).current_dir(d).output().unwrap();
    if !out.status.success() {
        assert!(!services_required(), "CI must install signify: {}", String::from_utf8_lossy(&out.stderr));
        eprintln!("skipped: signify is not installed");
        return;
    }
    let oracle = String::from_utf8(out.stdout).unwrap();
    std::fs::write(d.join("initrd"), b"initrd bytes").unwrap();
    let kernel = kernel.display().to_string();
    let cases: [(&str, &str, bool, &str); 4] = [
        (&kernel, "console=hvc0", true, "2048"),
        (&kernel, "quiet", false, "4096"),
        ("other-vmlinuz", "console=hvc0", true, "4096"),
        (&kernel, &"x".repeat(300), true, "1024"),
    ];
    for ((k, append, initrd, memory), want) in cases.iter().zip(oracle.lines()) {
        let (auth, rtmr_1) = want.split_once(' ').unwrap();
        let mut args = vec!["launch", "tdx", "--ovmf", OVMF, "--kernel", k, "--append", append];
        if *initrd {
            args.extend(["--initrd", "initrd"]);
        }
        args.extend(["--qemu-kernel-patch", "--memory", memory]);
        let out = ok(rvkit_in(d, &args));
        let block: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("rtmr_1 ")).take(7).collect();
        assert_eq!(block[0], format!("rtmr_1 {rtmr_1}"), "{append} {memory}");
        assert_eq!(block[1], format!("  File(kernel) Authenticode (setup header patched by QEMU) {auth}"));
        assert_eq!(block[6], format!("tdvfkernel {auth}"));
    }
    // QEMU's video-mode patch is not modelled: refused, not guessed.
    let vga =
        ["launch", "tdx", "--ovmf", OVMF, "--kernel", &kernel, "--append", "vga=791", "--qemu-kernel-patch"];
    assert_eq!(
        fails(rvkit_in(d, &vga), 2),
        format!(
            "error: {kernel}: kernel setup header: vga= in the command line: QEMU's video-mode patch is not modelled\n"
        )
    );
}

/// A policy that reads MRTD and RTMR1.
const TDX_POLICY: &str = r#"package policy

import rego.v1

default executables := 33

default hardware := 97

default configuration := 36

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
}

executables := 3 if {
	input.tdx.quote.body.mr_td in query_reference_value("mr_td")
	input.tdx.quote.body.rtmr_1 in query_reference_value("rtmr_1")
}

hardware := 2 if {
	input.tdx
}

configuration := 2 if {
	input.tdx
}
"#;

/// `rvkit rvps check` of `claims.json` against `rv.json` with `policy.rego`
/// and `--launch-tdx launch`, in `d`: exit 1 (a failed comparison), its report.
fn failing_tdx_check(d: &Path, launch: &str) -> String {
    let args = [
        "rvps",
        "check",
        "--claims",
        "claims.json",
        "--reference-values",
        "rv.json",
        "--policy",
        "policy.rego",
        "--launch-tdx",
        launch,
    ];
    let out = rvkit_in(d, &args);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `rvkit rvps check --launch-tdx`: evidence whose RTMR1 comes from older
/// QEMU's patched kernel (the Python patcher and signify above compute it)
/// is traced to that patch when the published values were computed without
/// it; an MRTD no firmware of the inputs gives is said to be so.
#[test]
fn rvps_check_traces_tdx_values_to_the_qemu_kernel_patch() {
    if !debian_ovmf() {
        return;
    }
    let Some(kernel) = debian_kernel() else { return };
    let dir = tempdir();
    let d = dir.path();
    let out =
        Command::new("python3").args(["-c", QEMU_PATCH_ORACLE]).arg(&kernel).current_dir(d).output().unwrap();
    if !out.status.success() {
        assert!(!services_required(), "CI must install signify");
        eprintln!("skipped: signify is not installed");
        return;
    }
    // The first case: console=hvc0, a 12-byte initrd, 2048 MiB.
    let oracle = String::from_utf8(out.stdout).unwrap();
    let patched_rtmr_1 = oracle.lines().next().unwrap().split_once(' ').unwrap().1.to_owned();
    std::fs::write(d.join("initrd"), b"initrd bytes").unwrap();
    let kernel = kernel.display().to_string();
    let boot = ["--ovmf", OVMF, "--kernel", &kernel, "--initrd", "initrd", "--append", "console=hvc0"];
    rv_file(d, "rv.json", &[&["launch", "tdx"][..], &boot].concat());
    let published = ok(rvkit_in(d, &[&["launch", "tdx"][..], &boot].concat()));
    let published_rtmr_1 = published.lines().find_map(|l| l.strip_prefix("rtmr_1 ")).unwrap().to_owned();
    std::fs::write(d.join("policy.rego"), TDX_POLICY).unwrap();
    let launch = format!("ovmf={OVMF},kernel={kernel},initrd=initrd,append=console=hvc0");
    let check = |mr_td: &str, rtmr_1: &str| {
        std::fs::write(
            d.join("claims.json"),
            format!(
                "{{\"tdx\":{{\"quote\":{{\"body\":{{\"mr_td\":\"{mr_td}\",\"rtmr_1\":\"{rtmr_1}\"}}}}}}}}"
            ),
        )
        .unwrap();
        failing_tdx_check(d, &launch)
    };
    let head = "verdict: warning (configuration 2, executables 33, hardware 2)\npolicy: policy.rego (Rego)\n\
                claims: claims.json (tdx)\nreference values: rv.json (array format, 5 names)\n";
    assert_eq!(
        check(OVMF_MRTD, &patched_rtmr_1),
        format!(
            "{head}failed (policy line 19): input.tdx.quote.body.rtmr_1 in query_reference_value(\"rtmr_1\")\n  \
             claim value: {patched_rtmr_1}\n  allowed (rtmr_1): [\"{published_rtmr_1}\"]\n  \
             hint: the evidence's rtmr_1 is the one the launch inputs give with the kernel's setup header patched \
             by older QEMU (qemu_kernel_patch=true, memory=2048)\n2 comparisons, 1 failed\n"
        )
    );
    let other = "ab".repeat(48);
    assert_eq!(
        check(&other, &published_rtmr_1),
        format!(
            "{head}failed (policy line 18): input.tdx.quote.body.mr_td in query_reference_value(\"mr_td\")\n  \
             claim value: {other}\n  allowed (mr_td): [\"{OVMF_MRTD}\"]\n  \
             hint: the evidence's mr_td is not what the launch inputs give ({OVMF_MRTD} with the kernel as given \
             (qemu_kernel_patch=false)): another firmware, kernel, initrd or command line\n2 comparisons, 1 failed\n"
        )
    );
}

/// An image whose SEV metadata lies 100 KiB before its end, beyond the end
/// `launch snp` reads with the page digests: the command reads the whole
/// image then, and agrees with sev-snp-measure.
#[test]
fn snp_reads_the_whole_image_when_the_metadata_lies_far_from_the_end() {
    let dir = tempdir();
    let image = dir.path().join("far.fd");
    let Some(expected) = sev_snp_measure(&format!(
        r#"import random, struct, uuid
r = random.Random(7)
n = 256 * 4096
img = bytearray(r.randbytes(n))
def entry(guid, data):
    return data + struct.pack('<H', len(data) + 18) + uuid.UUID(guid).bytes_le
meta_off = n - 100 * 1024
sections = [(0x800000, 4096, 1), (0x801000, 4096, 2), (0x802000, 4096, 3)]
meta = b'ASEV' + struct.pack('<III', 16 + 12 * len(sections), 1, len(sections))
meta += b''.join(struct.pack('<III', *s) for s in sections)
img[meta_off:meta_off + len(meta)] = meta
table = entry('dc886566-984a-4798-a75e-5585a7bf67cc', struct.pack('<I', n - meta_off))
table += entry('00f771de-1a7e-4fcb-890e-68c77e2fb44e', struct.pack('<I', 0xffff1230))
footer = n - 32 - 18
img[footer - len(table):footer] = table
img[footer:footer + 18] = struct.pack('<H', len(table) + 18) + uuid.UUID('96b582de-1fb2-45f7-baea-a366c55a082d').bytes_le
open('{path}', 'wb').write(img)
print(guest.calc_launch_digest(SevMode.SEV_SNP, 2, 0x800f12, '{path}', None, None, None, 1).hex())"#,
        path = image.display()
    )) else {
        return;
    };
    let out = ok(rvkit_in(
        dir.path(),
        &["launch", "snp", "--ovmf", "far.fd", "--vcpus", "2", "--vcpu-type", "EPYC-v4"],
    ));
    assert_eq!(out.lines().last().unwrap(), format!("vcpus   2  {}", expected.trim()));
}

/// RTMR0 by a small implementation in Python's standard library, written
/// from EDK II's TDX measurement code and QEMU's TD HOB builder (see
/// rvkit-launch's `rtmr0` module), on Debian's OVMF: several memory sizes,
/// both readings of SecureBoot, ACPI files in either order, a given TD HOB.
const RTMR0_ORACLE: &str = r#"
import hashlib, random, struct, sys, uuid
fw = open(sys.argv[1], 'rb').read()
out = sys.argv[2]
L = len(fw)
g = lambda s: uuid.UUID(s).bytes_le
h = lambda b: hashlib.sha384(b).digest()
assert fw[L-48:L-32] == g('96b582de-1fb2-45f7-baea-a366c55a082d')
end = L - 50
start = end - (struct.unpack_from('<H', fw, end)[0] - 18)
tdvf = None
while end - start >= 18:
    size = struct.unpack_from('<H', fw, end - 18)[0]
    if fw[end-16:end] == g('e47a6535-984a-4798-865e-4685a7bf8ec2'):
        tdvf = L - struct.unpack_from('<I', fw, end - 22)[0]
    end -= size
n = struct.unpack_from('<I', fw, tdvf + 12)[0]
secs = [struct.unpack_from('<IIQQII', fw, tdvf + 16 + 32 * i) for i in range(n)]
def hob(mib):
    mem = mib << 20
    low = min(mem, 0x80000000 if mem >= 0xb0000000 else 0xb0000000)
    ram = [[0, low, 7]] + ([[1 << 32, mem - low, 7]] if mem > low else [])
    for off, raw, gpa, size, kind, attr in secs:
        if kind in (2, 3):
            e = next(e for e in ram if e[2] == 7 and e[0] <= gpa and gpa + size <= e[0] + e[1])
            ram.remove(e)
            ram += [[e[0], gpa - e[0], 7], [gpa, size, 0], [gpa + size, e[0] + e[1] - gpa - size, 7]]
    ram = sorted(r for r in ram if r[1])
    base = next(s[2] for s in secs if s[4] == 2)
    b = struct.pack('<HHIII5Q', 1, 56, 0, 9, 0, 0, 0, 0, 0, base + 56 + 48 * len(ram) + 8)
    for start_, length, kind in ram:
        b += struct.pack('<HHI16sIIQQ', 3, 48, 0, bytes(16), kind, 7, start_, length)
    return b
cfv = next(s for s in secs if s[4] == 1)
def var(guid, name, data):
    return g(guid) + struct.pack('<QQ', len(name), len(data)) + name.encode('utf-16-le') + data
G, D = '8be4df61-93ca-11d2-aa0d-00e098032b8c', 'd719b2cb-3d3a-4596-a3bc-dad00e67656f'
boot0000 = struct.pack('<IH', 0x109, 44) + 'UiApp\0'.encode('utf-16-le')
boot0000 += b'\x04\x07\x14\x00' + g('7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1')
boot0000 += b'\x04\x06\x14\x00' + g('462caa21-7614-4503-836e-8ab6f4662331') + b'\x7f\xff\x04\x00'
r = random.Random(12)
for case, (mib, sb, names, given) in enumerate([
        (2048, b'', ['etc/acpi/tables', 'etc/acpi/rsdp'], False),
        (4096, b'\0', ['etc/acpi/rsdp', 'etc/tpm/log', 'etc/acpi/tables'], False),
        (3000, b'', ['etc/acpi/tables', 'etc/acpi/rsdp'], True)]):
    loader = b''
    for name in names:
        loader += struct.pack('<I56sIB', 1, name.encode(), 64, 1).ljust(128, b'\0')
        loader += struct.pack('<I', 3).ljust(128, b'\0')
    blobs = {name: r.randbytes(r.randrange(1, 9000)) for name in names}
    open(f'{out}/{case}-loader', 'wb').write(loader)
    for name, b in blobs.items():
        open(f'{out}/{case}-' + name.replace('/', '_'), 'wb').write(b)
    td_hob = hob(mib)
    if given:
        td_hob = struct.pack('<HHI', 1, 56, 0) + r.randbytes(48) + struct.pack('<HHI', 3, 16, 0) + r.randbytes(8)
        open(f'{out}/{case}-hob', 'wb').write(td_hob + struct.pack('<HHI', 0xffff, 8, 0) + b'after the end')
    evs = [h(td_hob), h(fw[cfv[0]:cfv[0] + cfv[1]])]
    evs += [h(var(G, 'SecureBoot', sb)), h(var(G, 'PK', b'')), h(var(G, 'KEK', b'')), h(var(D, 'db', b'')), h(var(D, 'dbx', b''))]
    evs += [h(bytes(4)), h(loader)] + [h(blobs[n]) for n in names] + [h(b'\0\0'), h(boot0000)]
    v = bytes(48)
    for e in evs:
        v = hashlib.sha384(v + e).digest()
    print(mib, 'absent' if sb == b'' else '0', ','.join(names), 'hob' if given else '-', v.hex(),
          ','.join(e.hex() for e in evs), hex(cfv[1]), hex(cfv[0]))
"#;

#[test]
fn tdx_rtmr0_matches_an_independent_implementation() {
    if !debian_ovmf() {
        return;
    }
    let Some(kernel) = debian_kernel() else { return };
    let dir = tempdir();
    let d = dir.path();
    let out = Command::new("python3")
        .args(["-c", RTMR0_ORACLE, OVMF, &d.display().to_string()])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kernel = kernel.display().to_string();
    for (case, line) in String::from_utf8(out.stdout).unwrap().lines().enumerate() {
        let f: Vec<&str> = line.split(' ').collect();
        let (memory, secure_boot, names, hob, expected) = (f[0], f[1], f[2], f[3], f[4]);
        let mut args: Vec<String> =
            ["launch", "tdx", "--ovmf", OVMF, "--kernel", &kernel, "--memory", memory]
                .map(str::to_owned)
                .to_vec();
        args.extend(["--secure-boot-variable".into(), secure_boot.into()]);
        args.extend(["--fw-cfg".into(), format!("etc/table-loader={case}-loader")]);
        for name in names.split(',') {
            args.extend(["--fw-cfg".into(), format!("{name}={case}-{}", name.replace('/', "_"))]);
        }
        if hob == "hob" {
            args.extend(["--td-hob".into(), format!("{case}-hob")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = ok(rvkit_in(d, &args));
        // The whole RTMR0 block of the text report and of the JSON report.
        let digests: Vec<&str> = f[5].split(',').collect();
        let mut descriptions = vec![
            if hob == "hob" {
                "TD HOB (given)".to_owned()
            } else {
                format!("TD HOB ({memory} MiB of memory, built as QEMU does)")
            },
            format!("CFV ({} bytes at offset {})", f[6], f[7]),
            format!("variable SecureBoot ({} bytes)", if secure_boot == "0" { 1 } else { 0 }),
        ];
        for v in ["PK", "KEK", "db", "dbx"] {
            descriptions.push(format!("variable {v} (0 bytes)"));
        }
        descriptions.push("separator".into());
        descriptions.push("fw_cfg etc/table-loader".into());
        descriptions.extend(names.split(',').map(|n| format!("fw_cfg {n}")));
        descriptions.extend(["variable BootOrder (0000)".into(), "variable Boot0000 (UiApp)".into()]);
        assert_eq!(descriptions.len(), digests.len());
        let block: String = std::iter::once(format!("rtmr_0 {expected}\n"))
            .chain(descriptions.iter().zip(&digests).map(|(d, h)| format!("  {d} {h}\n")))
            .collect();
        let start = text.find("rtmr_0 ").expect("an rtmr_0 line");
        let end = text.find("rtmr_1 ").expect("an rtmr_1 line");
        assert_eq!(&text[start..end], block, "case {case}: {line}");
        let mut json_args = args.clone();
        json_args.push("--json");
        let json: serde_json::Value = serde_json::from_str(&ok(rvkit_in(d, &json_args))).unwrap();
        let events: Vec<serde_json::Value> = descriptions
            .iter()
            .zip(&digests)
            .map(|(d, h)| serde_json::json!({"description": d, "digest": h}))
            .collect();
        assert_eq!(json["rtmr_0"], expected, "case {case}");
        assert_eq!(json["rtmr_0_events"], serde_json::Value::Array(events), "case {case}");
        // The reference value is published under its register's name.
        let mut rv_args = args.clone();
        rv_args.extend(["--format", "array"]);
        assert!(ok(rvkit_in(d, &rv_args)).contains("\"name\": \"rtmr_0\""), "case {case}");
    }
    // What RTMR0 cannot be computed without, named.
    let base = ["launch", "tdx", "--ovmf", OVMF, "--kernel", &kernel];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    assert_eq!(
        fails(rvkit_in(d, &with(&base, &["--fw-cfg", "etc/table-loader=0-loader"])), 2),
        "error: --fw-cfg: fw_cfg file etc/acpi/tables is needed for RTMR0 and not given\n"
    );
    assert_eq!(
        fails(
            rvkit_in(d, &with(&base, &["--fw-cfg", "etc/acpi/rsdp=0-loader", "--fw-cfg", "etc/acpi/rsdp=x"])),
            2
        ),
        "error: --fw-cfg etc/acpi/rsdp is given twice\n"
    );
    std::fs::write(d.join("short-loader"), [0u8; 100]).unwrap();
    assert_eq!(
        fails(rvkit_in(d, &with(&base, &["--fw-cfg", "etc/table-loader=short-loader"])), 2),
        "error: short-loader: fw_cfg etc/table-loader, command at offset 0x0: 100 bytes are not whole 128-byte \
         commands\n"
    );
    // A TD HOB without its end-of-list HOB, named by its file.
    std::fs::write(d.join("bad-hob"), [1u8, 0, 8, 0, 0, 0, 0, 0]).unwrap();
    let hob = ["--fw-cfg", "etc/table-loader=0-loader", "--td-hob", "bad-hob"];
    assert_eq!(
        fails(rvkit_in(d, &with(&base, &hob)), 2),
        "error: bad-hob: TD HOB: no end-of-list HOB in 8 bytes\n"
    );
    let no_kernel =
        fails(rvkit_in(d, &["launch", "tdx", "--ovmf", OVMF, "--fw-cfg", "etc/table-loader=x"]), 2);
    assert!(no_kernel.contains("--kernel"), "{no_kernel}");
}

/// `rvkit rvps check --launch-tdx` with fw_cfg files: evidence whose RTMR0
/// comes from another guest memory size fails a policy that queries
/// `rtmr_0`, and the hint says what RTMR0 depends on.
#[test]
fn rvps_check_explains_a_failing_rtmr0() {
    if !debian_ovmf() {
        return;
    }
    let Some(kernel) = debian_kernel() else { return };
    let dir = tempdir();
    let d = dir.path();
    let mut loader = vec![0u8; 128];
    loader[0] = 1;
    loader[4..17].copy_from_slice(b"etc/acpi/rsdp");
    std::fs::write(d.join("loader"), &loader).unwrap();
    std::fs::write(d.join("rsdp"), b"RSD PTR rsdp bytes").unwrap();
    let kernel = kernel.display().to_string();
    let boot = |memory: &'static str| {
        ["launch", "tdx", "--ovmf", OVMF, "--kernel", &kernel, "--memory", memory]
            .into_iter()
            .chain(["--fw-cfg", "etc/table-loader=loader", "--fw-cfg", "etc/acpi/rsdp=rsdp"])
            .map(str::to_owned)
            .collect::<Vec<String>>()
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    rv_file(d, "rv.json", &args(&boot("2048")));
    let rtmr_0 = |memory| {
        ok(rvkit_in(d, &args(&boot(memory))))
            .lines()
            .find_map(|l| l.strip_prefix("rtmr_0 "))
            .unwrap()
            .to_owned()
    };
    let (published, evidence) = (rtmr_0("2048"), rtmr_0("4096"));
    assert_ne!(published, evidence, "RTMR0 follows the memory size through the TD HOB");
    std::fs::write(d.join("policy.rego"), TDX_POLICY.replace("rtmr_1", "rtmr_0")).unwrap();
    std::fs::write(
        d.join("claims.json"),
        format!(
            "{{\"tdx\":{{\"quote\":{{\"body\":{{\"mr_td\":\"{OVMF_MRTD}\",\"rtmr_0\":\"{evidence}\"}}}}}}}}"
        ),
    )
    .unwrap();
    let launch =
        format!("ovmf={OVMF},kernel={kernel},fw_cfg.etc/table-loader=loader,fw_cfg.etc/acpi/rsdp=rsdp");
    assert_eq!(
        failing_tdx_check(d, &launch),
        format!(
            "verdict: warning (configuration 2, executables 33, hardware 2)\npolicy: policy.rego (Rego)\n\
             claims: claims.json (tdx)\nreference values: rv.json (array format, 5 names)\n\
             failed (policy line 19): input.tdx.quote.body.rtmr_0 in query_reference_value(\"rtmr_0\")\n  \
             claim value: {evidence}\n  allowed (rtmr_0): [\"{published}\"]\n  \
             hint: the evidence's rtmr_0 is not what the launch inputs give ({published} with the kernel as given \
             (qemu_kernel_patch=false)): another firmware, guest memory or QEMU command line (its fw_cfg ACPI \
             files)\n2 comparisons, 1 failed\n"
        )
    );
}
