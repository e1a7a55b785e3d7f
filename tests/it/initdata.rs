//! rvkit-initdata against independent tools: coreutils' digests, the
//! walkthrough's PCR8 pipeline, GNU gzip and base64, and bash running the
//! walkthrough's seed heredoc. (The crate's own unit tests need only Rust.)

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use rvkit_initdata::annotation::{DEFAULT_MAX_DECODED, DecodeOptions, decode, encode};
use rvkit_initdata::render::{RenderParams, render};
use rvkit_initdata::{DUMMY_INITDATA, DUMMY_PCR8_HEX, Error, HashAlg, InitData, Platform, ValidateOptions};

use crate::seed;
use crate::util::{bash, have_tools, tempdir};

const WALKTHROUGH_HOST: &str = "https://kbs-service-trustee-operator-system.apps.rs01nyk5.eastus.aroapp.io";
const PEM: &str = include_str!("../../crates/initdata/testdata/kbs-walkthrough.pem");

/// Pipes `input` through the bash pipeline `script`; returns its trimmed stdout.
fn pipe(script: &str, input: &[u8]) -> String {
    let dir = tempdir();
    fs::write(dir.path().join("in"), input).unwrap();
    let out = bash(dir.path(), &format!("{{ {script}; }} < in"));
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// The walkthrough's own PCR8 computation, run by bash on `doc`.
fn walkthrough_pcr8(doc: &[u8]) -> String {
    let dir = tempdir();
    fs::write(dir.path().join("initdata.toml"), doc).unwrap();
    let out = bash(dir.path(), &format!("{}echo \"$PCR8_HASH\"", seed::pcr8_step(seed::steps())));
    String::from_utf8(out).unwrap().trim().to_owned()
}

#[test]
fn dummy_pcr8_by_the_walkthrough_pipeline() {
    if !have_tools("dummy_pcr8_by_the_walkthrough_pipeline", &["bash", "sha256sum", "xxd"]) {
        return;
    }
    assert_eq!(walkthrough_pcr8(DUMMY_INITDATA.as_bytes()), DUMMY_PCR8_HEX);
}

#[test]
fn digests_match_coreutils() {
    if !have_tools("digests_match_coreutils", &["bash", "sha256sum", "sha384sum", "sha512sum", "xxd"]) {
        return;
    }
    for (alg, tool) in
        [(HashAlg::Sha256, "sha256sum"), (HashAlg::Sha384, "sha384sum"), (HashAlg::Sha512, "sha512sum")]
    {
        let mut p = RenderParams::new(WALKTHROUGH_HOST, PEM);
        p.algorithm = alg;
        let text = render(&p).unwrap();
        let doc = InitData::parse(text.as_bytes()).unwrap();
        let expected = pipe(&format!("{tool} | cut -d' ' -f1"), text.as_bytes());
        assert_eq!(doc.digest().to_hex(), expected, "{tool}");
        assert_eq!(doc.digest().alg(), alg);
        if alg == HashAlg::Sha256 {
            assert_eq!(doc.pcr8().to_hex(), walkthrough_pcr8(text.as_bytes()));
        }
    }
}

#[test]
fn original_bytes_are_hashed() {
    if !have_tools("original_bytes_are_hashed", &["bash", "sha256sum", "xxd"]) {
        return;
    }
    let lf = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"a\" = '''\nx\n'''\n";
    let crlf = lf.replace('\n', "\r\n");
    let no_final_newline = lf.trim_end_matches('\n');
    let mut digests = Vec::new();
    for text in [lf, crlf.as_str(), no_final_newline] {
        let doc = InitData::parse(text.as_bytes()).unwrap();
        assert_eq!(doc.raw(), text.as_bytes());
        assert_eq!(doc.digest().to_hex(), pipe("sha256sum | cut -d' ' -f1", text.as_bytes()));
        assert_eq!(doc.pcr8().to_hex(), walkthrough_pcr8(text.as_bytes()));
        digests.push(doc.digest());
    }
    // The three spellings of one document have three digests.
    assert_ne!(digests[0], digests[1]);
    assert_ne!(digests[0], digests[2]);
    assert_ne!(digests[1], digests[2]);
}

#[test]
fn sha384_pcr8_is_the_truncated_digest_extended() {
    if !have_tools("sha384_pcr8_is_the_truncated_digest_extended", &["bash", "sha256sum", "sha384sum", "xxd"])
    {
        return;
    }
    let text = DUMMY_INITDATA.replace("sha256", "sha384");
    let doc = InitData::parse(text.as_bytes()).unwrap();
    let d = pipe("sha384sum | cut -d' ' -f1", text.as_bytes());
    // Zero PCR, then the first 32 bytes (64 hex digits) of the digest.
    let expected = pipe(
        "echo -n \"$(printf '0%.0s' $(seq 64))$(head -c 64)\" | xxd -r -p | sha256sum | cut -d' ' -f1",
        d.as_bytes(),
    );
    assert_eq!(doc.pcr8().to_hex(), expected);
    let b = doc.binding(Platform::Vtpm);
    assert_eq!(b.to_hex(), expected);
    assert_eq!(b.warnings.len(), 1);
    assert!(b.warnings[0].contains("sha384"));
}

#[test]
fn annotation_is_read_by_gzip_and_base64() {
    if !have_tools("annotation_is_read_by_gzip_and_base64", &["bash", "gzip", "base64"]) {
        return;
    }
    let raw = b"algorithm = \"sha256\"\r\nversion = \"0.1.0\"\n[data]";
    let dir = tempdir();
    fs::write(dir.path().join("in"), encode(raw)).unwrap();
    assert_eq!(bash(dir.path(), "base64 -d < in | gzip -dc"), raw);
}

#[test]
fn annotation_decodes_the_output_of_the_walkthrough_pipeline() {
    if !have_tools("annotation_decodes_the_output_of_the_walkthrough_pipeline", &["bash", "gzip", "base64"]) {
        return;
    }
    // The walkthrough encodes with `cat initdata.toml | gzip | base64 -w0`;
    // `base64` without -w0 wraps at 76 columns, which must also work.
    let doc = DUMMY_INITDATA.repeat(40);
    let dir = tempdir();
    fs::write(dir.path().join("in"), &doc).unwrap();
    for pipeline in ["gzip | base64 -w0", "gzip -9 | base64", "gzip -1 -n | base64"] {
        let text = bash(dir.path(), &format!("< in {pipeline}"));
        let d = decode(&text, &DecodeOptions::default()).unwrap();
        assert_eq!(d.bytes, doc.as_bytes(), "{pipeline}");
        assert_eq!(d.gzip_members, 1);
    }
}

#[test]
fn annotation_reads_members_concatenated_by_cat() {
    if !have_tools("annotation_reads_members_concatenated_by_cat", &["bash", "gzip", "base64"]) {
        return;
    }
    let dir = tempdir();
    let text = bash(
        dir.path(),
        "printf 'a = 1\\n' | gzip > a.gz && printf 'b = 2' | gzip -9 > b.gz && cat a.gz b.gz | base64 -w0",
    );
    let d = decode(&text, &DecodeOptions::default()).unwrap();
    assert_eq!(d.bytes, b"a = 1\nb = 2");
    assert_eq!(d.gzip_members, 2);
}

#[test]
fn annotation_gzip_bomb_stops_early() {
    if !have_tools("annotation_gzip_bomb_stops_early", &["bash", "gzip", "base64"]) {
        return;
    }
    // 100 MiB of zeros compress to about 100 KiB; decoding must stop at the
    // cap without inflating the rest. GNU gzip makes the bomb.
    let text = bash(&std::env::temp_dir(), "head -c 104857600 /dev/zero | gzip -9 | base64 -w0");
    assert!(text.len() < 200_000, "{}", text.len());
    let start = Instant::now();
    let err = decode(&text, &DecodeOptions::default()).unwrap_err();
    assert_eq!(err, Error::DecodedTooLarge { max: DEFAULT_MAX_DECODED });
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

struct Case {
    host: &'static str,
    san: &'static str,
    crlf_cert: bool,
    cert_trailer: &'static str,
    secret: (&'static str, &'static str),
    policy: Option<&'static str>,
    alg: HashAlg,
}

/// bash runs the walkthrough's seed heredoc on inputs it was never run on
/// (IP SANs, CRLF certificates, custom policies, other algorithms), and the
/// library renders the same bytes.
#[test]
fn bash_runs_the_seed_heredoc_to_the_same_bytes() {
    if !have_tools("bash_runs_the_seed_heredoc_to_the_same_bytes", &["bash", "openssl"]) {
        return;
    }
    let heredoc = seed::initdata_heredoc(seed::steps());
    let body: Vec<&str> = heredoc.lines().skip(1).take_while(|l| *l != "EOF").collect();
    let cases = [
        Case {
            host: "https://kbs.other.example:8443",
            san: "DNS:kbs.other.example",
            crlf_cert: false,
            cert_trailer: "",
            secret: ("my-image-policy", "policy.json"),
            policy: None,
            alg: HashAlg::Sha256,
        },
        Case {
            host: "https://10.1.2.3/kbs",
            san: "IP:10.1.2.3",
            crlf_cert: true,
            cert_trailer: "\n\n",
            secret: ("p", "f"),
            policy: Some(
                "# custom\npackage agent_policy\n\ndefault ExecProcessRequest := false\n\
                 # $HOME `date` \\d stay literal\n\n\n",
            ),
            alg: HashAlg::Sha384,
        },
        Case {
            host: "https://kbs.apps.example.com",
            san: "DNS:*.apps.example.com",
            crlf_cert: false,
            cert_trailer: "\n\n\n",
            secret: ("trustee-image-policy", "policy"),
            policy: Some("package agent_policy\ndefault CreateContainerRequest := true"),
            alg: HashAlg::Sha512,
        },
    ];
    for (n, case) in cases.iter().enumerate() {
        let dir = tempdir();
        let dir: &Path = dir.path();
        bash(
            dir,
            &format!(
                "openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout key.pem \
                 -out cert.pem -subj /CN=kbs -addext subjectAltName={} 2>/dev/null",
                case.san
            ),
        );
        let mut pem = fs::read_to_string(dir.join("cert.pem")).unwrap();
        if case.crlf_cert {
            pem = pem.replace('\n', "\r\n");
        }
        pem.push_str(case.cert_trailer);
        fs::write(dir.join("cert.pem"), &pem).unwrap();
        if let Some(policy) = case.policy {
            fs::write(dir.join("policy.rego"), policy).unwrap();
        }

        // The seed heredoc, with the algorithm made a variable and, for a
        // custom policy, the policy text replaced by the file's contents.
        let mut lines = Vec::new();
        let mut in_policy = false;
        for &line in &body {
            if in_policy {
                if line == "'''" {
                    in_policy = false;
                    lines.push(line);
                }
                continue;
            }
            lines.push(if line == "algorithm = \"sha256\"" { "algorithm = \"${ALGORITHM}\"" } else { line });
            if line == "\"policy.rego\" = '''" && case.policy.is_some() {
                lines.push("$(cat policy.rego)");
                in_policy = true;
            }
        }
        let script = format!(
            "TRUSTEE_HOST={}\nTRUSTEE_CERT=$(cat cert.pem)\nPOLICY_SECRET_NAME={}\nPOLICY_SECRET_FILE={}\n\
             ALGORITHM={}\ncat > initdata.toml <<EOF\n{}\nEOF\n",
            sh_quote(case.host),
            sh_quote(case.secret.0),
            sh_quote(case.secret.1),
            case.alg.name(),
            lines.join("\n")
        );
        bash(dir, &script);
        let from_bash = fs::read(dir.join("initdata.toml")).unwrap();

        let rendered = render(&RenderParams {
            kbs_url: case.host.to_owned(),
            kbs_cert_pem: pem,
            image_policy_uri: format!("kbs:///default/{}/{}", case.secret.0, case.secret.1),
            agent_policy: case.policy.map(str::to_owned),
            algorithm: case.alg,
        })
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&from_bash), rendered, "case {n}");

        let doc = InitData::parse(rendered.as_bytes()).unwrap();
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let report = doc.validate(&ValidateOptions { now_unix: now });
        assert!(report.is_ok(), "case {n}: {report}");
        // Two days of validity is "expiring soon"; nothing else may be reported.
        assert!(report.warnings().all(|w| w.message.contains("expires soon")), "case {n}: {report}");
    }
}
