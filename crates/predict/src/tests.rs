use std::process::Command;

use rvkit_pcr::PcrIndex;
use rvkit_pe::testpe::build;

use super::*;

const BANKS: [HashAlg; 2] = [HashAlg::Sha256, HashAlg::Sha384];

use rvkit_test_support::services_required as required;

fn pcr(p: &Prediction, alg: HashAlg, index: u32) -> String {
    let replay = p.event_log().replay().unwrap();
    replay.bank(alg).unwrap().get(PcrIndex::new(index).unwrap()).to_hex()
}

/// Deterministic pseudo-random bytes.
fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn uki(version: &str, sections: &[(&str, &[u8])]) -> Vec<u8> {
    let magic = format!("#### LoaderInfo: systemd-stub {version} ####\0");
    let mut all: Vec<(&str, u32, &[u8])> = vec![(".sdmagic", 0, magic.as_bytes())];
    all.extend(sections.iter().map(|(n, d)| (*n, 0, *d)));
    build(&all, 0x200, b"")
}

#[test]
fn pcr3_is_the_separator() {
    let bytes = uki("252.39-1~deb12u2", &[(".linux", b"k")]);
    let p = predict(&Uki::parse(&bytes).unwrap(), &EspExtras::default(), &BANKS).unwrap();
    // The constant of the ground-truth notes, measured on a booted VM.
    assert_eq!(
        pcr(&p, HashAlg::Sha256, 3),
        "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"
    );
}

/// PCR 11 for stub 252 equals `systemd-measure calculate --phase=` (Debian
/// 12's systemd 252), an independent implementation, on random sections.
#[test]
fn pcr11_of_stub_252_matches_systemd_measure() {
    let measure = "/usr/lib/systemd/systemd-measure";
    if !std::path::Path::new(measure).exists() {
        assert!(!required(), "needs {measure} ({})", rvkit_test_support::install_of("file", measure));
        eprintln!("skipped: no {measure}");
        return;
    }
    for seed in 1..4u32 {
        let dir = tempfile_dir();
        let linux = noise(seed, 5000 + seed as usize);
        let osrel = b"ID=podvm\nVERSION_ID=1\n".to_vec();
        let cmdline = format!("root=/dev/vda roothash={}", hex_of(&noise(seed + 9, 32)));
        let initrd = noise(seed + 3, 777 * seed as usize);
        let splash = noise(seed + 5, 33);
        let mut sections: Vec<(&str, &[u8])> = vec![
            (".linux", &linux),
            (".osrel", &osrel),
            (".cmdline", cmdline.as_bytes()),
            (".initrd", &initrd),
        ];
        if seed == 2 {
            sections.push((".splash", &splash));
        }
        let mut args = vec!["calculate".to_owned(), "--phase=".to_owned()];
        for (name, data) in &sections {
            let path = dir.join(&name[1..]);
            std::fs::write(&path, data).unwrap();
            args.push(format!("--{}={}", &name[1..], path.display()));
        }
        let bytes = uki("252.39-1~deb12u2", &sections);
        let p = predict(&Uki::parse(&bytes).unwrap(), &EspExtras::default(), &BANKS).unwrap();
        for alg in BANKS {
            let out = Command::new(measure).args(&args).arg(format!("--bank={alg}")).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8(out.stdout).unwrap();
            let expected = text.lines().find_map(|l| l.strip_prefix(&format!("11:{alg}="))).unwrap();
            assert_eq!(pcr(&p, alg, 11), expected, "seed {seed} {alg}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rvkit-predict-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn pcr9_load_options_are_the_mangled_cmdline_in_utf16() {
    let bytes = uki(
        "252.39-1~deb12u2",
        &[(".linux", b"k"), (".cmdline", b"\n console=ttyS0\tquiet \n\0\0"), (".initrd", b"init")],
    );
    let p = predict(&Uki::parse(&bytes).unwrap(), &EspExtras::default(), &BANKS).unwrap();
    let nine: Vec<_> = p.events.iter().filter(|e| e.pcr == 9).collect();
    assert_eq!(nine.len(), 2);
    let utf16: Vec<u8> = "console=ttyS0 quiet\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert_eq!(nine[0].digests[0], HashAlg::Sha256.hash(&utf16));
    assert_eq!(nine[1].digests[1], HashAlg::Sha384.hash(b"init"));
}

/// Stub 257 hands the kernel `.initrd` padded to 4 bytes and then a cpio
/// archive with `/.extra/os-release`; GNU cpio must read that archive back.
#[test]
fn stub_257_initrd_carries_os_release_that_gnu_cpio_reads() {
    let osrel = b"ID=podvm\nPRETTY_NAME=\"x\"\n";
    let archive = cpio::extra_file("os-release", osrel);
    assert_eq!(archive.len() % 4, 0);
    let dir = tempfile_dir();
    let out = Command::new("bash")
        .arg("-c")
        .arg("cpio -i --quiet --make-directories && cat .extra/os-release && stat -c %a .extra .extra/os-release")
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&archive)?;
            c.wait_with_output()
        });
    match out {
        Ok(o) if o.status.success() => {
            assert_eq!(
                String::from_utf8(o.stdout).unwrap(),
                format!("{}555\n444\n", String::from_utf8_lossy(osrel))
            )
        }
        other => {
            assert!(!required(), "needs cpio: {other:?}");
            eprintln!("skipped: cpio: {other:?}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);

    let bytes = uki("257.13-1", &[(".linux", b"k"), (".osrel", osrel), (".initrd", b"abcde")]);
    let p = predict(&Uki::parse(&bytes).unwrap(), &EspExtras::default(), &BANKS).unwrap();
    let initrd = p.events.iter().rfind(|e| e.pcr == 9).unwrap();
    let mut expected = b"abcde\0\0\0".to_vec();
    expected.extend_from_slice(&archive);
    assert_eq!(initrd.digests[0], HashAlg::Sha256.hash(&expected));
}

#[test]
fn stub_257_measures_uname_and_sbat_in_canonical_order() {
    let bytes =
        uki("257.13-1", &[(".sbat", b"sbat"), (".uname", b"6.1"), (".linux", b"k"), (".cmdline", b"x")]);
    let p = predict(&Uki::parse(&bytes).unwrap(), &EspExtras::default(), &BANKS).unwrap();
    let names: Vec<_> = p.events.iter().filter(|e| e.pcr == 11).map(|e| e.description.as_str()).collect();
    assert_eq!(
        names,
        [
            "section name .linux",
            "section .linux (1 bytes)",
            "section name .cmdline",
            "section .cmdline (1 bytes)",
            "section name .uname",
            "section .uname (3 bytes)",
            "section name .sbat",
            "section .sbat (4 bytes)"
        ]
    );
}

#[test]
fn refusals_name_what_is_missing() {
    let no_linux = uki("252.1", &[(".cmdline", b"x")]);
    assert_eq!(Uki::parse(&no_linux).unwrap_err().to_string(), "the UKI has no .linux section");
    for version in ["258.1-1", "262.1-1", "251.4-1ubuntu7"] {
        let other = uki(version, &[(".linux", b"k")]);
        assert_eq!(
            Uki::parse(&other).unwrap_err().to_string(),
            format!("systemd-stub {version}: only the measurements of stubs 252 to 257 are modelled")
        );
    }
    let ok = uki("252.1", &[(".linux", b"k")]);
    let extras = EspExtras { files: vec!["loader/addons/a.addon.efi".into()], ..EspExtras::default() };
    assert_eq!(
        predict(&Uki::parse(&ok).unwrap(), &extras, &BANKS).unwrap_err().to_string(),
        "ESP extra loader/addons/a.addon.efi (extensions and add-ons): its measurement is not modelled, so no prediction is made"
    );
    let extras =
        EspExtras { global_credentials: vec![("a.cred".into(), b"x".to_vec())], ..EspExtras::default() };
    assert_eq!(
        predict(&Uki::parse(&ok).unwrap(), &extras, &BANKS).unwrap_err().to_string(),
        "credential a.cred with systemd-stub 252.1 (stub 252 may also measure it into PCR 8, as it was built): its measurement is not modelled, so no prediction is made"
    );
    let profile = uki("257.13-1", &[(".linux", b"k"), (".profile", b"ID=1")]);
    assert_eq!(
        predict(&Uki::parse(&profile).unwrap(), &EspExtras::default(), &BANKS).unwrap_err().to_string(),
        "the UKI's .profile section with systemd-stub 257.13-1: its measurement is not modelled, so no prediction is made"
    );
    let options = Options { firmware: Some(Firmware::Ovmf), initdata: None };
    assert_eq!(
        predict_with(&Uki::parse(&ok).unwrap(), &EspExtras::default(), &BANKS, &options)
            .unwrap_err()
            .to_string(),
        "the UKI's .linux section is not a PE/COFF image the firmware can start"
    );
}

/// Which ESP files systemd-stub 257 picks up (stub.c, cpio.c).
#[test]
fn extras_are_classified_as_the_stub_picks_them_up() {
    let cases = [
        (ExtraDir::Uki, "a.cred", Some(Extra::Credential)),
        (ExtraDir::Uki, "A.CRED", Some(Extra::Credential)),
        (ExtraDir::Uki, ".hidden.cred", None),
        (ExtraDir::Uki, "x.raw", Some(Extra::Unmodelled)),
        (ExtraDir::Uki, "x.confext.raw", Some(Extra::Unmodelled)),
        (ExtraDir::Uki, "x.addon.efi", Some(Extra::Unmodelled)),
        (ExtraDir::Uki, "notes.txt", None),
        (ExtraDir::Credentials, "g.cred", Some(Extra::GlobalCredential)),
        (ExtraDir::Credentials, "g.raw", None),
        (ExtraDir::Credentials, "caf\u{e9}.cred", None),
        (ExtraDir::Addons, "a.addon.efi", Some(Extra::Unmodelled)),
        (ExtraDir::Addons, "a.cred", None),
    ];
    for (dir, name, want) in cases {
        assert_eq!(Extra::of(dir, name), want, "{dir:?} {name}");
    }
    assert_eq!(Extra::of(ExtraDir::Uki, &format!("{}.cred", "a".repeat(251))), None);
    assert_eq!(ExtraDir::Uki.path("EFI/BOOT/BOOTX64.EFI"), "EFI/BOOT/BOOTX64.EFI.extra.d");
}

/// Stub 257's credential archives: each in PCR 12 (per-UKI first, then
/// global) and, after .initrd, in the initrd of PCR 9; GNU cpio reads them
/// back with the stub's modes and the names sorted.
#[test]
fn stub_257_credentials_go_to_pcr12_and_the_initrd() {
    let files: [(&str, &[u8]); 2] = [("b.cred", b"second"), ("a.cred", b"first!")];
    let extras = EspExtras {
        credentials: files.iter().map(|(n, d)| (n.to_string(), d.to_vec())).collect(),
        global_credentials: vec![("g.cred".into(), b"global".to_vec())],
        ..EspExtras::default()
    };
    let bytes = uki("257.13-1", &[(".linux", b"k"), (".initrd", b"abcde")]);
    let p = predict(&Uki::parse(&bytes).unwrap(), &extras, &BANKS).unwrap();
    let own =
        cpio::archive(".extra/credentials", 0o500, 0o400, &[("a.cred", b"first!"), ("b.cred", b"second")]);
    let global = cpio::archive(".extra/global_credentials", 0o500, 0o400, &[("g.cred", b"global")]);
    let twelve: Vec<_> = p.events.iter().filter(|e| e.pcr == 12).collect();
    assert_eq!(twelve.len(), 2);
    assert_eq!(twelve[0].digests[0], HashAlg::Sha256.hash(&own));
    assert_eq!(twelve[1].digests[1], HashAlg::Sha384.hash(&global));
    let mut initrd = b"abcde\0\0\0".to_vec();
    initrd.extend_from_slice(&own);
    initrd.extend_from_slice(&global);
    assert_eq!(p.events.iter().rfind(|e| e.pcr == 9).unwrap().digests[0], HashAlg::Sha256.hash(&initrd));

    let dir = tempfile_dir();
    std::fs::write(dir.join("own.cpio"), &own).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            "cpio -i --quiet --make-directories < own.cpio && cat .extra/credentials/a.cred && \
              stat -c '%n %a' .extra .extra/credentials .extra/credentials/*",
        )
        .current_dir(&dir)
        .output();
    match out {
        Ok(o) if o.status.success() => assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            "first!.extra 555\n.extra/credentials 500\n.extra/credentials/a.cred 400\n.extra/credentials/b.cred 400\n"
        ),
        other => {
            assert!(!required(), "needs cpio: {other:?}");
            eprintln!("skipped: cpio: {other:?}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The PCR 11 section sets of stubs 252 to 257 (`unified_sections` at
/// each release tag): 253 measures what 252 does, 254 adds .uname and
/// .sbat. The expected values are `systemd-measure calculate --phase=` of
/// Debian 12's systemd 252 (on the 252 sections) and of bookworm-backports'
/// systemd 254.26-1~bpo12+1 (on all seven), over these section files.
#[test]
fn pcr11_sections_follow_the_stub_version() {
    let sections: [(&str, &[u8]); 7] = [
        (".sbat", b"sbat,1,SBAT Version\n"),
        (".linux", b"kernel-254"),
        (".osrel", b"ID=podvm\n"),
        (".cmdline", b"console=ttyS0"),
        (".initrd", b"initrd!"),
        (".uname", b"6.1.0-podvm"),
        (".pcrpkey", b"PEM"),
    ];
    let measure_252 = "e24f588da9d4482994ec0a392a5e2d97b62d73bb2e377b7d4f75f33c241661e6";
    let measure_254 = [
        "47c2e1e60457e8ab50d8751d97b9650503a0b2353afe608c8c381fa8e7d34b04",
        "5da21b17310833d06a35f1c32ba900f19b82729bbbab26638814def7abd1fdc426be35ce0f6d654dc28e56c6104d0ec7",
    ];
    for (version, want) in [
        ("252.39-1~deb12u2", measure_252),
        ("253.26", measure_252),
        ("254.26-1~bpo12+1", measure_254[0]),
        ("255.4-1ubuntu8", measure_254[0]),
        ("256.7", measure_254[0]),
        ("257.13-1", measure_254[0]),
    ] {
        let p =
            predict(&Uki::parse(&uki(version, &sections)).unwrap(), &EspExtras::default(), &BANKS).unwrap();
        assert_eq!(pcr(&p, HashAlg::Sha256, 11), want, "{version}");
    }
    let p = predict(&Uki::parse(&uki("254.26-1~bpo12+1", &sections)).unwrap(), &EspExtras::default(), &BANKS)
        .unwrap();
    assert_eq!(pcr(&p, HashAlg::Sha384, 11), measure_254[1]);
    // .ucode joins at 256, after .initrd.
    let with_ucode = [(".linux", &b"k"[..]), (".ucode", b"u"), (".initrd", b"i")];
    let names = |version: &str| -> Vec<String> {
        let p =
            predict(&Uki::parse(&uki(version, &with_ucode)).unwrap(), &EspExtras::default(), &BANKS).unwrap();
        p.events
            .iter()
            .filter(|e| e.pcr == 11 && e.description.starts_with("section name"))
            .map(|e| e.description[13..].to_owned())
            .collect()
    };
    assert_eq!(names("255.13"), [".linux", ".initrd"]);
    assert_eq!(names("256.7"), [".linux", ".initrd", ".ucode"]);
}

/// The initrd each stub hands the kernel (`stub.c` at each release tag):
/// up to 255 `.initrd`, the credential archives and the .pcrsig and
/// .pcrpkey archives; 256 puts `.ucode` first; 257 adds the `.osrel`
/// archive; when combined, each part is padded to 4 bytes, which up to 256
/// happens whenever there is anything beside `.initrd` and from 257 on
/// when there are two parts or more.
#[test]
fn the_initrd_follows_the_stub_version() {
    let sections: [(&str, &[u8]); 6] = [
        (".linux", b"k"),
        (".osrel", b"ID=podvm\n"),
        (".ucode", b"ucode"),
        (".initrd", b"abcde"),
        (".pcrsig", b"{}"),
        (".pcrpkey", b"PEM"),
    ];
    let initrd = |version: &str, sections: &[(&str, &[u8])], extras: &EspExtras| {
        let p = predict(&Uki::parse(&uki(version, sections)).unwrap(), extras, &BANKS).unwrap();
        p.events
            .iter()
            .rfind(|e| e.pcr == 9 && e.description.starts_with("Linux initrd"))
            .map(|e| e.digests[0])
    };
    let sig = cpio::extra_file("tpm2-pcr-signature.json", b"{}");
    let key = cpio::extra_file("tpm2-pcr-public-key.pem", b"PEM");
    let osrel = cpio::extra_file("os-release", b"ID=podvm\n");
    let cat = |parts: &[&[u8]]| {
        let mut v = Vec::new();
        for p in parts {
            v.extend_from_slice(p);
            v.resize(v.len().next_multiple_of(4), 0);
        }
        Some(HashAlg::Sha256.hash(&v))
    };
    let none = EspExtras::default();
    for version in ["252.39-1~deb12u2", "253.26", "254.26-1~bpo12+1", "255.13"] {
        assert_eq!(initrd(version, &sections, &none), cat(&[b"abcde", &sig, &key]), "{version}");
    }
    assert_eq!(initrd("256.7", &sections, &none), cat(&[b"ucode", b"abcde", &sig, &key]));
    assert_eq!(initrd("257.13-1", &sections, &none), cat(&[b"ucode", b"abcde", &sig, &key, &osrel]));

    // A lone part: .initrd is handed over as it is; a lone .ucode is
    // combined (padded) by 256 and not by 257.
    let lone_initrd = [(".linux", &b"k"[..]), (".initrd", b"abcde")];
    let lone_ucode = [(".linux", &b"k"[..]), (".ucode", b"ucode")];
    for version in ["252.1", "256.7", "257.13-1"] {
        assert_eq!(initrd(version, &lone_initrd, &none), Some(HashAlg::Sha256.hash(b"abcde")), "{version}");
    }
    assert_eq!(initrd("256.7", &lone_ucode, &none), cat(&[b"ucode"]));
    assert_eq!(initrd("257.13-1", &lone_ucode, &none), Some(HashAlg::Sha256.hash(b"ucode")));
    assert_eq!(initrd("255.13", &lone_ucode, &none), None);

    // Credentials from 253 on: PCR 12 and the initrd, after .initrd.
    let extras = EspExtras { credentials: vec![("a.cred".into(), b"x".to_vec())], ..EspExtras::default() };
    let own = cpio::archive(".extra/credentials", 0o500, 0o400, &[("a.cred", b"x")]);
    for version in ["253.26", "254.26-1~bpo12+1"] {
        assert_eq!(initrd(version, &lone_initrd, &extras), cat(&[b"abcde", &own]), "{version}");
        let p = predict(&Uki::parse(&uki(version, &lone_initrd)).unwrap(), &extras, &BANKS).unwrap();
        let twelve: Vec<_> = p.events.iter().filter(|e| e.pcr == 12).map(|e| e.digests[0]).collect();
        assert_eq!(twelve, [HashAlg::Sha256.hash(&own)], "{version}");
    }
}

/// PCR 7 of the OVMF profile (secure boot off, empty PK/KEK/db/dbx) equals
/// the value booted VMs show (the ground-truth notes' sha256 value; the
/// sha384 one read from the same boot), and PCR 4 holds the profile's
/// actions, the UKI and its kernel.
#[test]
fn ovmf_profile_pcr7_is_the_booted_value_and_pcr4_has_uki_and_kernel() {
    let kernel = build(&[(".text", 0, b"kernel code")], 0x200, b"");
    let bytes = uki("257.13-1", &[(".linux", &kernel)]);
    let options = Options { firmware: Some(Firmware::Ovmf), initdata: None };
    let u = Uki::parse(&bytes).unwrap();
    let p = predict_with(&u, &EspExtras::default(), &BANKS, &options).unwrap();
    assert_eq!(
        pcr(&p, HashAlg::Sha256, 7),
        "65caf8dd1e0ea7a6347b635d2b379c93b9a1351edc2afc3ecda700e534eb3068"
    );
    assert_eq!(
        pcr(&p, HashAlg::Sha384, 7),
        "98441c7f7625d10058c47683aec486ce311c633235eb555593a7ee791121e3578ae72d04ecef661f272d59058b77af35"
    );
    let four: Vec<_> = p.events.iter().filter(|e| e.pcr == 4).collect();
    let names: Vec<_> = four.iter().map(|e| e.description.as_str()).collect();
    assert_eq!(
        names,
        [
            "Calling EFI Application from Boot Option",
            "separator",
            "Returning from EFI Application from Boot Option",
            "Calling EFI Application from Boot Option",
            "Authenticode of the UKI",
            "Authenticode of .linux, started by the stub"
        ]
    );
    // The action's digest as the booted log shows it.
    assert_eq!(
        four[0].digests[0].to_hex(),
        "3d6772b4f84ed47595d72a2c4c5ffd15f5bb72c7507fe26f2aaee2c69d5633ba"
    );
    assert_eq!(four[4].digests[1], u.pe().authenticode(HashAlg::Sha384));
    assert_eq!(four[5].digests[0], rvkit_pe::PeFile::parse(&kernel).unwrap().authenticode(HashAlg::Sha256));
    assert_eq!(predicted_pcrs(&options), [3, 4, 7, 9, 11, 12]);
}

/// The initdata digest extends PCR 8 of the SHA-256 bank only.
#[test]
fn initdata_extends_pcr8_in_its_bank_only() {
    let bytes = uki("252.1", &[(".linux", b"k")]);
    let d = HashAlg::Sha256.hash(b"initdata");
    let options = Options { firmware: None, initdata: Some(d) };
    let p = predict_with(&Uki::parse(&bytes).unwrap(), &EspExtras::default(), &BANKS, &options).unwrap();
    assert_eq!(pcr(&p, HashAlg::Sha256, 8), HashAlg::Sha256.hash_parts(&[&[0; 32], d.as_bytes()]).to_hex());
    assert_eq!(pcr(&p, HashAlg::Sha384, 8), "0".repeat(96));
    assert_eq!(predicted_pcrs(&options), [3, 8, 9, 11, 12]);
}

#[test]
fn check_names_the_differing_pcr_its_events_and_the_first_differing_booted_event() {
    let bytes = uki("252.1", &[(".linux", b"k"), (".cmdline", b"a")]);
    let p = predict(&Uki::parse(&bytes).unwrap(), &EspExtras::default(), &[HashAlg::Sha256]).unwrap();
    let values = p.values(&[HashAlg::Sha256], &[3, 11]);
    let wrong = HashAlg::Sha256.hash(b"not pcr 11");
    let published = [(HashAlg::Sha256, 3, values[0].2), (HashAlg::Sha256, 11, wrong)];
    let h = |b: &[u8]| HashAlg::Sha256.hash(b);
    // A boot whose .cmdline section held "b" instead of "a".
    let booted = |_: HashAlg| {
        [(b".linux\0".as_slice(), 1), (b"k", 2), (b".cmdline\0", 3), (b"b", 4)]
            .map(|(m, n)| BootedEvent {
                number: n,
                pcr: 11,
                digest: Some(h(m)),
                summary: format!("event {n}"),
            })
            .to_vec()
    };
    let report = check(&p, &published, Some(&booted));
    assert!(!report.ok());
    let text = report.to_string();
    let d = |b: &[u8]| h(b).to_hex();
    assert_eq!(
        text,
        format!(
            "sha256:pcr03: matches {}\n\
             sha256:pcr11: differs\n  published {}\n  predicted {}\n\
             \x20 event {} section name .linux\n  event {} section .linux (1 bytes)\n\
             \x20 event {} section name .cmdline\n  event {} section .cmdline (1 bytes)\n\
             \x20 first difference: booted event 4 (event 4) has {}, the prediction has {} (section .cmdline (1 bytes))\n",
            values[0].2.to_hex(),
            wrong.to_hex(),
            values[1].2.to_hex(),
            d(b".linux\0"),
            d(b"k"),
            d(b".cmdline\0"),
            d(b"a"),
            d(b"b"),
            d(b"a"),
        )
    );
}

/// An input the uki_predict fuzz target found: a section whose VirtualSize
/// asks for gigabytes of zero fill. It is refused, not allocated.
#[test]
fn huge_virtual_size_is_refused() {
    let bytes = include_bytes!("../tests/data/huge-virtual-size.efi");
    let result = Uki::parse(bytes).and_then(|uki| predict(&uki, &EspExtras::default(), &BANKS));
    assert!(result.is_err(), "{result:?}");
}
