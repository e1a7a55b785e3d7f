//! The walkthrough's initdata template, rendered from parameters.
//!
//! The walkthrough writes `initdata.toml` with a bash heredoc. [`render`]
//! produces the same bytes bash would, with `TRUSTEE_HOST` = the KBS URL,
//! `TRUSTEE_CERT=$(cat cert.pem)` (command substitution removes every
//! trailing newline), the image-policy URI in place of
//! `kbs:///default/$POLICY_SECRET_NAME/$POLICY_SECRET_FILE`, the chosen
//! algorithm, and optionally another agent policy (its trailing newlines
//! removed the same way) in place of the walkthrough's.
//!
//! ```
//! use rvkit_initdata::render::{RenderParams, render};
//! let pem = include_str!("../testdata/kbs-walkthrough.pem");
//! let url = "https://kbs-service-trustee-operator-system.apps.rs01nyk5.eastus.aroapp.io";
//! let toml = render(&RenderParams::new(url, pem))?;
//! let doc = rvkit_initdata::InitData::parse(toml.as_bytes())?;
//! assert_eq!(doc.algorithm().name(), "sha256");
//! # Ok::<(), rvkit_initdata::Error>(())
//! ```

use rvkit_pcr::HashAlg;
use x509_parser::pem::Pem;

use crate::{Error, InitData};

/// The walkthrough's image signature policy resource.
pub const DEFAULT_IMAGE_POLICY_URI: &str = "kbs:///default/trustee-image-policy/policy";

/// The walkthrough's agent policy (allow everything but exec and
/// SetPolicy/WriteStream), exactly as its heredoc writes it.
pub const DEFAULT_AGENT_POLICY: &str = "\
package agent_policy\n\
import future.keywords.in\n\
import future.keywords.if\n\
default AddARPNeighborsRequest := true\n\
default AddSwapRequest := true\n\
default CloseStdinRequest := true\n\
default CopyFileRequest := true\n\
default CreateContainerRequest := true\n\
default CreateSandboxRequest := true\n\
default DestroySandboxRequest := true\n\
default GetMetricsRequest := true\n\
default GetOOMEventRequest := true\n\
default GuestDetailsRequest := true\n\
default ListInterfacesRequest := true\n\
default ListRoutesRequest := true\n\
default MemHotplugByProbeRequest := true\n\
default OnlineCPUMemRequest := true\n\
default PauseContainerRequest := true\n\
default PullImageRequest := true\n\
default RemoveContainerRequest := true\n\
default RemoveStaleVirtiofsShareMountsRequest := true\n\
default ReseedRandomDevRequest := true\n\
default ResumeContainerRequest := true\n\
default SetGuestDateTimeRequest := true\n\
default SetPolicyRequest := false\n\
default SignalProcessRequest := true\n\
default StartContainerRequest := true\n\
default StartTracingRequest := true\n\
default StatsContainerRequest := true\n\
default StopTracingRequest := true\n\
default TtyWinResizeRequest := true\n\
default UpdateContainerRequest := true\n\
default UpdateEphemeralMountsRequest := true\n\
default UpdateInterfaceRequest := true\n\
default UpdateRoutesRequest := true\n\
default WaitProcessRequest := true\n\
default WriteStreamRequest := false\n\
# Enable logs, to see the output of curl\n\
default ReadStreamRequest := true\n\
# Disable exec\n\
default ExecProcessRequest := false\n\
";

/// The inputs of the walkthrough's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderParams {
    /// The KBS URL (`TRUSTEE_HOST`), e.g. `https://kbs.example.com`.
    pub kbs_url: String,
    /// The KBS's TLS certificate in PEM (`TRUSTEE_CERT`).
    pub kbs_cert_pem: String,
    /// The image signature policy resource (`kbs:///default/NAME/FILE`).
    pub image_policy_uri: String,
    /// The agent policy; `None` means [`DEFAULT_AGENT_POLICY`].
    pub agent_policy: Option<String>,
    /// The document's `algorithm`: sha256, sha384 or sha512.
    pub algorithm: HashAlg,
}

impl RenderParams {
    /// The walkthrough's defaults for everything but the URL and certificate.
    pub fn new(kbs_url: impl Into<String>, kbs_cert_pem: impl Into<String>) -> RenderParams {
        RenderParams {
            kbs_url: kbs_url.into(),
            kbs_cert_pem: kbs_cert_pem.into(),
            image_policy_uri: DEFAULT_IMAGE_POLICY_URI.to_owned(),
            agent_policy: None,
            algorithm: HashAlg::Sha256,
        }
    }
}

/// Renders the walkthrough's `initdata.toml`.
///
/// Fails, naming the parameter, when an input would break the document: a
/// quote or backslash in the URL, `'` in the URI, `'''` in the policy,
/// `"""`, `'''` or `\` in the certificate, control characters anywhere;
/// when the certificate is not PEM X.509; or when the algorithm is SHA-1.
/// The inputs are otherwise not judged: use [`InitData::validate`] on the
/// result for that.
pub fn render(p: &RenderParams) -> Result<String, Error> {
    let alg = match p.algorithm {
        HashAlg::Sha256 | HashAlg::Sha384 | HashAlg::Sha512 => p.algorithm.name(),
        other => {
            return Err(bad("algorithm", format!("{other} is not allowed (use sha256, sha384 or sha512)")));
        }
    };
    let url = p.kbs_url.as_str();
    check_single_line("kbs url", url)?;
    if let Some(c) = url.chars().find(|c| matches!(c, '"' | '\\')) {
        return Err(bad("kbs url", format!("contains {c:?}, which would end or escape its toml string")));
    }
    check_no_triple("kbs url", url, "'''")?;

    let uri = p.image_policy_uri.as_str();
    check_single_line("image policy uri", uri)?;
    if uri.contains('\'') {
        return Err(bad(
            "image policy uri",
            "contains ', which would end its toml literal string".to_owned(),
        ));
    }

    let cert = strip_trailing_newlines(&p.kbs_cert_pem);
    check_multi_line("kbs cert", cert)?;
    check_no_triple("kbs cert", cert, "'''")?;
    check_no_triple("kbs cert", cert, "\"\"\"")?;
    if cert.contains('\\') {
        return Err(bad("kbs cert", "contains a backslash, which toml would read as an escape".to_owned()));
    }
    check_pem_certificates(cert)?;

    let policy = strip_trailing_newlines(p.agent_policy.as_deref().unwrap_or(DEFAULT_AGENT_POLICY));
    check_multi_line("agent policy", policy)?;
    check_no_triple("agent policy", policy, "'''")?;

    let mut out = String::with_capacity(1024 + 2 * cert.len() + policy.len());
    // One line of the heredoc per line here, so the two can be compared by eye.
    #[rustfmt::skip]
    let pieces = [
        "algorithm = \"", alg, "\"\n",
        "version = \"0.1.0\"\n",
        "[data]\n",
        "\"aa.toml\" = '''\n",
        "[token_configs]\n",
        "[token_configs.coco_as]\n",
        "url = \"", url, "\"\n",
        "[token_configs.kbs]\n",
        "url = \"", url, "\"\n",
        "cert = \"\"\"\n",
        cert, "\n",
        "\"\"\"\n",
        "'''\n",
        "\"cdh.toml\" = '''\n",
        "socket = 'unix:///run/confidential-containers/cdh.sock'\n",
        "credentials = []\n",
        "[kbc]\n",
        "name = \"cc_kbc\"\n",
        "url = \"", url, "\"\n",
        "kbs_cert = \"\"\"\n",
        cert, "\n",
        "\"\"\"\n",
        "[image]\n",
        "image_security_policy_uri = '", uri, "'\n",
        "'''\n",
        "\"policy.rego\" = '''\n",
        policy, "\n",
        "'''\n",
    ];
    for piece in pieces {
        out.push_str(piece);
    }

    // The checks above should make this impossible; parsing the result keeps
    // a broken document from ever leaving this function.
    InitData::parse(out.as_bytes())
        .map_err(|e| bad("template", format!("produced an invalid document: {e}")))?;
    Ok(out)
}

fn bad(param: &'static str, problem: String) -> Error {
    Error::RenderInput { param, problem }
}

/// What `$(...)` does to its output: removes every trailing newline.
fn strip_trailing_newlines(s: &str) -> &str {
    s.trim_end_matches('\n')
}

fn check_single_line(param: &'static str, s: &str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(bad(param, "is empty".to_owned()));
    }
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(bad(param, format!("contains the control character {c:?}"))),
        None => Ok(()),
    }
}

/// TOML multi-line strings allow tabs and newlines (LF or CRLF) but no other
/// control characters, and no CR on its own.
fn check_multi_line(param: &'static str, s: &str) -> Result<(), Error> {
    let bytes = s.as_bytes();
    for (i, c) in s.char_indices() {
        // Every value is followed by a newline in the template, so a CR at
        // the very end (left by stripping the LF of a final CRLF) is fine.
        let lone_cr = c == '\r' && bytes.get(i + 1).is_some_and(|&b| b != b'\n');
        if (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || lone_cr {
            return Err(bad(
                param,
                format!("contains the control character {c:?}, which toml does not allow here"),
            ));
        }
    }
    Ok(())
}

fn check_no_triple(param: &'static str, s: &str, quotes: &str) -> Result<(), Error> {
    if s.contains(quotes) {
        return Err(bad(
            param,
            format!("contains {quotes}, which would end the toml string it is written into"),
        ));
    }
    Ok(())
}

/// The certificate must be one or more PEM `CERTIFICATE` blocks that each
/// parse as X.509; text around the blocks is allowed, as PEM readers skip it.
fn check_pem_certificates(cert: &str) -> Result<(), Error> {
    let mut n = 0;
    for block in Pem::iter_from_buffer(cert.as_bytes()) {
        n += 1;
        let pem = block.map_err(|e| bad("kbs cert", format!("block {n} is not valid pem: {e}")))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad(
                "kbs cert",
                format!("block {n} is a {:?} pem block, not a CERTIFICATE", pem.label),
            ));
        }
        pem.parse_x509()
            .map_err(|e| bad("kbs cert", format!("block {n} is not an x.509 certificate: {e}")))?;
    }
    if n == 0 {
        return Err(bad("kbs cert", "is not pem: it has no -----BEGIN CERTIFICATE----- block".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const WALKTHROUGH_HOST: &str =
        "https://kbs-service-trustee-operator-system.apps.rs01nyk5.eastus.aroapp.io";
    const FIXTURE_PEM: &str = include_str!("../testdata/kbs-walkthrough.pem");

    /// The walkthrough's `cat > initdata.toml <<EOF` heredoc body, one string
    /// per line, from the repository's transcription of the walkthrough
    /// (tests/data/walkthrough, which says where each line comes from).
    fn seed_heredoc() -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/walkthrough/steps.txt");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let body: Vec<String> = text
            .lines()
            .skip_while(|l| *l != "cat > initdata.toml <<EOF")
            .skip(1)
            .take_while(|l| *l != "EOF")
            .map(str::to_owned)
            .collect();
        assert!(body.len() > 20, "heredoc not found in {}", path.display());
        body
    }

    /// Expands `$NAME` and `${NAME}` the way bash does in an unquoted
    /// heredoc. The walkthrough's heredoc uses nothing else; anything else
    /// bash would treat specially makes the test fail rather than guess.
    fn expand(line: &str, vars: &[(&str, &str)]) -> String {
        assert!(!line.contains(['\\', '`']), "unsupported in {line:?}");
        assert!(!line.contains("$("), "unsupported in {line:?}");
        let mut out = String::new();
        let mut rest = line;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            let (name, after) = if let Some(braced) = rest.strip_prefix('{') {
                let end = braced.find('}').expect("closing brace");
                (&braced[..end], &braced[end + 1..])
            } else {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            let value =
                vars.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no value for ${name}")).1;
            out.push_str(value);
            rest = after;
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn walkthrough_values_give_the_seed_heredoc() {
        let body = seed_heredoc();
        let cert = strip_trailing_newlines(FIXTURE_PEM);
        let vars = [
            ("TRUSTEE_HOST", WALKTHROUGH_HOST),
            ("TRUSTEE_CERT", cert),
            ("POLICY_SECRET_NAME", "trustee-image-policy"),
            ("POLICY_SECRET_FILE", "policy"),
        ];
        let expected: String = body.iter().map(|l| expand(l, &vars) + "\n").collect();
        let rendered = render(&RenderParams::new(WALKTHROUGH_HOST, FIXTURE_PEM)).unwrap();
        assert_eq!(rendered, expected);

        // The default policy is the heredoc's, byte for byte.
        let start = body.iter().position(|l| l == "\"policy.rego\" = '''").unwrap();
        let policy: String =
            body[start + 1..].iter().take_while(|l| *l != "'''").map(|l| format!("{l}\n")).collect();
        assert_eq!(policy, DEFAULT_AGENT_POLICY);
    }

    fn params() -> RenderParams {
        RenderParams::new(WALKTHROUGH_HOST, FIXTURE_PEM)
    }

    fn render_err(p: &RenderParams) -> (&'static str, String) {
        match render(p) {
            Err(Error::RenderInput { param, problem }) => (param, problem),
            other => panic!("expected a render input error, got {other:?}"),
        }
    }

    #[test]
    fn inputs_that_would_break_the_toml_are_refused() {
        let mut p = params();
        p.agent_policy = Some("package agent_policy\nx := '''\n".into());
        assert_eq!(render_err(&p).0, "agent policy");

        let mut p = params();
        p.kbs_cert_pem = FIXTURE_PEM.replace("-----END", "\"\"\"\n-----END");
        assert_eq!(render_err(&p).0, "kbs cert");
        p.kbs_cert_pem = format!("'''\n{FIXTURE_PEM}");
        assert_eq!(render_err(&p).0, "kbs cert");
        p.kbs_cert_pem = format!("\\u0041\n{FIXTURE_PEM}");
        assert_eq!(render_err(&p).0, "kbs cert");
        p.kbs_cert_pem = format!("a\u{7}\n{FIXTURE_PEM}");
        assert_eq!(render_err(&p).0, "kbs cert");

        for url in ["https://kbs\".example", "https://kbs\\x", "https://a\nb", ""] {
            let mut p = params();
            p.kbs_url = url.into();
            assert_eq!(render_err(&p).0, "kbs url", "{url:?}");
        }
        let mut p = params();
        p.image_policy_uri = "kbs:///default/it's/policy".into();
        assert_eq!(render_err(&p).0, "image policy uri");
        let mut p = params();
        p.algorithm = HashAlg::Sha1;
        assert_eq!(render_err(&p).0, "algorithm");
    }

    #[test]
    fn the_cert_must_be_pem_x509() {
        let mut p = params();
        p.kbs_cert_pem = "not a certificate".into();
        let (param, problem) = render_err(&p);
        assert_eq!(param, "kbs cert");
        assert!(problem.contains("not pem"), "{problem}");

        p.kbs_cert_pem = FIXTURE_PEM.replace("CERTIFICATE", "PRIVATE KEY");
        assert!(render_err(&p).1.contains("PRIVATE KEY"));

        p.kbs_cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into();
        assert!(render_err(&p).1.contains("x.509"));

        p.kbs_cert_pem = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".into();
        assert!(render_err(&p).1.contains("not valid pem"));

        p.kbs_cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n".into();
        assert!(render_err(&p).1.contains("not valid pem"));
    }

    #[test]
    fn render_then_parse_keeps_the_inputs() {
        let mut p = params();
        p.agent_policy = Some("package agent_policy\n\n\n".into());
        p.algorithm = HashAlg::Sha384;
        let out = render(&p).unwrap();
        let doc = InitData::parse(out.as_bytes()).unwrap();
        assert_eq!(doc.algorithm(), HashAlg::Sha384);
        assert_eq!(doc.get("policy.rego"), Some("package agent_policy\n"));
        let aa = doc.get("aa.toml").unwrap();
        assert!(aa.contains(strip_trailing_newlines(FIXTURE_PEM)));
        assert!(out.ends_with("'''\n"));
    }
}
