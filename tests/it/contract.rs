//! One contract for every command: reference values that could not attest
//! are refused by every writer, exit codes mean the same everywhere (1 the
//! input was read and fails a check, 2 usage or unreadable input), messages
//! name the flag that supplied a value, and an error's cause is printed once.

use std::fs;
use std::path::Path;

use base64::Engine as _;

use crate::util::{fails, have_tools, ok, openssl_cert, rvkit_in, tempdir};

const PCR3: &str = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969";

fn measurements(dir: &Path) {
    fs::write(dir.join("m.json"), format!("{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{PCR3}\"}}}}}}"))
        .unwrap();
}

/// A cert-manager bundle configuration that needs no registry: measurements
/// from a file, no signed-image rules.
fn bundle_config(dir: &Path, extra: &str) {
    fs::write(
        dir.join("trustee.toml"),
        format!(
            "domain = \"apps.example.com\"\nkeys = \"cert-manager\"\n\n[certificate]\norganization = \"my_org\"\n\n\
             [image_policy]\ndefault_policy = \"insecureAcceptAnything\"\n\n\
             [reference_values]\nexpiration = \"9099-01-01T00:00:00Z\"\n\n[podvm]\nmeasurements = [\"m.json\"]\n{extra}"
        ),
    )
    .unwrap();
}

#[test]
fn every_writer_of_reference_values_refuses_a_past_expiration() {
    let dir = tempdir();
    let d = dir.path();
    measurements(d);
    let past = "2020-01-01T00:00:00Z";
    let stderr = fails(
        rvkit_in(d, &["rvps", "emit", "--measurements", "m.json", "--expiration", past, "-o", "rv.json"]),
        2,
    );
    assert_eq!(stderr, "error: --expiration is 2020-01-01T00:00:00Z, which is not in the future\n");
    assert!(!d.join("rv.json").exists());

    // Merge: a value that has expired in its input, and a past --expiration.
    fs::write(
        d.join("old.json"),
        format!("[{{\"name\":\"snp_pcr03\",\"expiration\":\"{past}\",\"value\":[\"{PCR3}\"]}}]"),
    )
    .unwrap();
    fs::write(
        d.join("new.json"),
        format!(
            "[{{\"name\":\"snp_pcr09\",\"expiration\":\"9099-01-01T00:00:00Z\",\"value\":[\"{PCR3}\"]}}]"
        ),
    )
    .unwrap();
    let stderr = fails(rvkit_in(d, &["rvps", "merge", "new.json", "old.json", "-o", "merged.json"]), 2);
    assert_eq!(
        stderr,
        "error: the expiration of snp_pcr03 is 2020-01-01T00:00:00Z, which is not in the future\n"
    );
    assert!(!d.join("merged.json").exists());
    let stderr = fails(rvkit_in(d, &["rvps", "merge", "new.json", "--expiration", past]), 2);
    assert_eq!(stderr, "error: --expiration is 2020-01-01T00:00:00Z, which is not in the future\n");
    ok(rvkit_in(d, &["rvps", "merge", "new.json", "--expiration", "9099-06-01T00:00:00Z"]));

    // The bundle applies the same rule to its configuration field.
    bundle_config(d, "");
    let stderr =
        fails(rvkit_in(d, &["bundle", "--config", "trustee.toml", "-o", "b", "--expiration", past]), 2);
    assert_eq!(
        stderr,
        "error: reference_values.expiration (--expiration) is 2020-01-01T00:00:00Z, which is not in the future\n"
    );
    assert!(!d.join("b").exists());

    // The launch values too, before any firmware is read.
    for tee in ["snp", "tdx"] {
        let args =
            ["launch", tee, "--ovmf", "absent.fd", "--reference-values", "array", "--expiration", past];
        let stderr = fails(rvkit_in(d, &[&args[..], &["-o", "launch.json"]].concat()), 2);
        assert_eq!(stderr, "error: --expiration is 2020-01-01T00:00:00Z, which is not in the future\n");
        assert!(!d.join("launch.json").exists());
    }
}

#[test]
fn a_kbs_certificate_for_another_host_fails_verification_in_render_and_bundle() {
    if !have_tools("a_kbs_certificate_for_another_host_fails_verification", &["openssl"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    measurements(d);
    openssl_cert(d, "other.example.com", "my_org", 365);
    let stderr = fails(
        rvkit_in(
            d,
            &[
                "initdata",
                "render",
                "--kbs-url",
                "https://kbs.example.com",
                "--kbs-cert",
                "other.example.com.crt",
            ],
        ),
        1,
    );
    assert_eq!(
        stderr,
        "error: rendered document [aa.toml]: token_configs.kbs.cert does not cover the kbs host kbs.example.com \
         (DNS:other.example.com); tls to the kbs would fail\n\
         error: rendered document [cdh.toml]: kbc.kbs_cert does not cover the kbs host kbs.example.com \
         (DNS:other.example.com); tls to the kbs would fail\n\
         error: rendered document: 2 validation error(s)\n"
    );

    bundle_config(d, "");
    ok(rvkit_in(d, &["bundle", "--config", "trustee.toml", "-o", "b"]));
    let before = fs::read_dir(d.join("b")).unwrap().count();
    let host = "kbs-service-trustee-operator-system.apps.example.com";
    // The certificate as a PEM file, and in the TLS Secret cert-manager writes.
    let pem = fs::read(d.join("other.example.com.crt")).unwrap();
    fs::write(
        d.join("secret.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: trustee-tls-cert\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n",
            base64::engine::general_purpose::STANDARD.encode(pem)
        ),
    )
    .unwrap();
    for (flag, file) in [("--kbs-cert", "other.example.com.crt"), ("--kbs-cert-from-secret", "secret.yaml")] {
        let stderr = fails(rvkit_in(d, &["bundle", "--config", "trustee.toml", "-o", "b", flag, file]), 1);
        assert_eq!(
            stderr,
            format!(
                "error: kbs certificate from {flag} {file}: does not name the KBS host {host} \
                 (its subject alternative names: DNS:other.example.com)\n"
            )
        );
    }
    assert_eq!(fs::read_dir(d.join("b")).unwrap().count(), before, "nothing written");

    // A file that is no certificate at all is an unreadable input (exit 2).
    fs::write(d.join("junk.crt"), "not a certificate\n").unwrap();
    let stderr =
        fails(rvkit_in(d, &["bundle", "--config", "trustee.toml", "-o", "b", "--kbs-cert", "junk.crt"]), 2);
    assert_eq!(
        stderr,
        "error: kbs certificate from --kbs-cert junk.crt: has no -----BEGIN CERTIFICATE----- block\n"
    );
}

#[test]
fn an_error_prints_its_cause_once() {
    let dir = tempdir();
    let d = dir.path();
    measurements(d);
    fs::write(
        d.join("bad.json"),
        format!("{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{PCR3}\",\"pcr11\":\"zz\"}}}}}}"),
    )
    .unwrap();
    fs::write(d.join("bad.toml"), "algorithm = \"sha256\"\nversion = \"0.1.0\"\n").unwrap();
    let bad_digest =
        "bad value for \"pcr11\" in measurements.sha256: invalid hex digit 'z' at position 0 in \"zz\"";
    let no_data = "initdata document has no top-level `data` key";

    let stderr = fails(rvkit_in(d, &["rvps", "emit", "--measurements", "bad.json"]), 2);
    assert_eq!(stderr, format!("error: bad.json: {bad_digest}\n"));
    let stderr =
        fails(rvkit_in(d, &["rvps", "emit", "--measurements", "m.json", "--initdata", "bad.toml"]), 2);
    assert_eq!(stderr, format!("error: initdata bad.toml: {no_data}\n"));

    // Through the bundle, the measurements error is three levels deep.
    bundle_config(d, "");
    let stderr = fails(
        rvkit_in(
            d,
            &[
                "bundle",
                "--config",
                "trustee.toml",
                "-o",
                "b",
                "--keys",
                "local",
                "--measurements",
                "bad.json",
            ],
        ),
        2,
    );
    assert_eq!(stderr, format!("error: bad.json: {bad_digest}\n"));
    bundle_config(d, "\n[[initdata.variants]]\nname = \"broken\"\ndocument = \"bad.toml\"\n");
    let stderr = fails(rvkit_in(d, &["bundle", "--config", "trustee.toml", "-o", "b", "--keys", "local"]), 2);
    assert_eq!(stderr, format!("error: initdata-broken.toml: {no_data}\n"));
    assert!(!d.join("b").exists());

    // An I/O error under a file name.
    let out = rvkit_in(d, &["podvm", "fetch", "oci-archive:missing.tar:1", "--insecure-skip-verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("error: cannot read missing.tar: No such file or directory (os error 2)"),
        "{stderr}"
    );
}
