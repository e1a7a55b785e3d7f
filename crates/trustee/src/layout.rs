//! The files a bundle directory is made of: their names, written by
//! [`render`](crate::render) and read back by [`check`](crate::check()) and the
//! command line, and the [`MANIFEST`] that lists them.

use std::collections::BTreeSet;

/// The kustomization listing the bundle's resources.
pub const KUSTOMIZATION: &str = "kustomization.yaml";
/// The self-signed cert-manager Issuer (cert-manager mode).
pub const ISSUER: &str = "issuer.yaml";
/// The cert-manager Certificate for the KBS HTTPS key (cert-manager mode).
pub const HTTPS_CERTIFICATE: &str = "certificate-kbs-https.yaml";
/// The cert-manager Certificate for the attestation-token key (cert-manager mode).
pub const TOKEN_CERTIFICATE: &str = "certificate-kbs-token.yaml";
/// The TrusteeConfig.
pub const TRUSTEECONFIG: &str = "trusteeconfig.yaml";
/// The passthrough Route to the KBS.
pub const ROUTE: &str = "route.yaml";
/// The image signature verification policy, as also held in its Secret.
pub const VERIFICATION_POLICY: &str = "verification-policy.json";
/// The JSON patch adding the bundle's Secrets to the KbsConfig.
pub const KBSCONFIG_PATCH: &str = "kbsconfig-patch.yaml";
/// The KBS HTTPS certificate the initdata documents trust.
pub const KBS_CERT: &str = "kbs-https.crt";
/// The peer-pods ConfigMap snippet carrying the default initdata annotation.
pub const PEER_PODS_SNIPPET: &str = "peer-pods-cm-initdata.yaml";
/// The PCR8 value of every initdata document, `sha256sum` style.
pub const PCR8: &str = "pcr8.txt";
/// The reference-value ConfigMap.
pub const RVPS_CONFIGMAP: &str = "rvps-configmap.yaml";
/// What to do next, for the person applying the bundle.
pub const NEXT_STEPS: &str = "NEXT-STEPS.md";
/// The file stem of the default initdata document.
pub const INITDATA_STEM: &str = "initdata";

/// The file listing what a bundle directory holds, so that rendering again
/// can replace exactly those files and refuse to touch any other.
pub const MANIFEST: &str = ".rvkit-bundle";

/// The first line of the [`MANIFEST`].
const MANIFEST_HEADER: &str = "# Files written by rvkit bundle; rendering again replaces or removes them.";

/// The Secret resource holding the Secret `name`.
pub fn secret(name: &str) -> String {
    format!("secret-{name}.yaml")
}

/// The file stem of the initdata variant `name`.
pub fn variant_stem(name: &str) -> String {
    format!("{INITDATA_STEM}-{name}")
}

/// The initdata document of a file stem ([`INITDATA_STEM`] or a [`variant_stem`]).
pub fn initdata_document(stem: &str) -> String {
    format!("{stem}.toml")
}

/// The annotation value of a file stem.
pub fn initdata_annotation(stem: &str) -> String {
    format!("{stem}.annotation")
}

/// The stem of an initdata document's file name, if it is one.
pub fn initdata_stem(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".toml")?;
    (stem == INITDATA_STEM || stem.strip_prefix(INITDATA_STEM).is_some_and(|rest| rest.starts_with('-')))
        .then_some(stem)
}

/// The [`MANIFEST`] text listing `names`, one a line, after a comment.
pub fn manifest<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    std::iter::once(MANIFEST_HEADER).chain(names).map(|n| format!("{n}\n")).collect()
}

/// The file names a [`MANIFEST`] lists (comments and blank lines skipped).
pub fn parse_manifest(text: &str) -> BTreeSet<String> {
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips() {
        let text = manifest(["kustomization.yaml", "route.yaml"]);
        assert_eq!(text, format!("{MANIFEST_HEADER}\nkustomization.yaml\nroute.yaml\n"));
        assert_eq!(parse_manifest(&text), BTreeSet::from(["kustomization.yaml".into(), "route.yaml".into()]));
    }

    #[test]
    fn initdata_file_names() {
        let v = variant_stem("debug");
        assert_eq!(
            (initdata_document(&v), initdata_annotation(&v)),
            ("initdata-debug.toml".into(), "initdata-debug.annotation".into())
        );
        assert_eq!(initdata_stem("initdata.toml"), Some("initdata"));
        assert_eq!(initdata_stem("initdata-debug.toml"), Some("initdata-debug"));
        assert_eq!(initdata_stem("initdatax.toml"), None);
        assert_eq!(initdata_stem("initdata.annotation"), None);
        assert_eq!(secret("trustee-image-policy"), "secret-trustee-image-policy.yaml");
    }
}
