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
    let other = uki("255.4-1ubuntu8", &[(".linux", b"k")]);
    assert_eq!(
        Uki::parse(&other).unwrap_err().to_string(),
        "systemd-stub 255.4-1ubuntu8: only the measurements of stubs 252 and 257 are modelled"
    );
    let ok = uki("252.1", &[(".linux", b"k")]);
    let extras = EspExtras { files: vec!["loader/credentials/a.cred".into()] };
    assert_eq!(
        predict(&Uki::parse(&ok).unwrap(), &extras, &BANKS).unwrap_err().to_string(),
        "ESP extra loader/credentials/a.cred (credentials and add-ons measure into PCR 12 and 9): its measurement is not modelled, so no prediction is made"
    );
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
