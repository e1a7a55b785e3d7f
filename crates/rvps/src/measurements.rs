use std::fmt;

use rvkit_pcr::{Digest, HashAlg, PcrIndex};

use crate::Error;
use crate::raw::Raw;

/// A non-fatal finding: the input was used, but someone should look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The input it concerns (a file label, or an initdata label).
    pub source: String,
    /// What was found, in one sentence.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(source: impl Into<String>, message: impl Into<String>) -> Warning {
        Warning { source: source.into(), message: message.into() }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

/// The PCR values of a podvm image, as published in its `measurements.json`:
/// `{"measurements":{"sha256":{"pcr03":"0x…","pcr09":"0x…"}}}`.
///
/// Parsing is strict, because a value that is silently dropped or altered
/// here becomes an attestation failure (or a weaker policy) later:
///
/// - the document is exactly one JSON object with the single key
///   `measurements`, holding an object of banks named `sha1`, `sha256`,
///   `sha384` or `sha512`, each an object of PCR keys to hex strings;
/// - a key written twice in any of these objects is an error (JSON parsers
///   disagree on which copy wins);
/// - a PCR key is `pcr` followed by decimal digits naming PCR 0 to 23. The
///   canonical spelling is two digits (`pcr03`, as Trustee's verifiers name
///   their claims); other spellings of the same number (`pcr3`, `pcr003`) are
///   normalised to it with a warning, and two keys naming the same PCR are an
///   error. Upper case (`PCR03`) is refused, not normalised: no producer of
///   this file writes it, so it more likely signals a different format;
/// - a value is a JSON string of hex digits of exactly the bank's digest
///   length, after removing one optional `0x` prefix (a prefix, never a
///   character set: `0x0a…` keeps its leading zero). Upper-case digits are
///   accepted; values are kept as [`Digest`]s and printed in lower case.
///
/// Errors name the key; the caller knows the file name and adds it.
///
/// ```
/// use rvkit_pcr::{HashAlg, PcrIndex};
/// use rvkit_rvps::Measurements;
///
/// let json = format!(r#"{{"measurements":{{"sha256":{{"pcr3":"0x0A{}"}}}}}}"#, "00".repeat(31));
/// let (m, warnings) = Measurements::parse(json.as_bytes())?;
/// let (pcr, digest) = m.bank(HashAlg::Sha256).unwrap()[0];
/// assert_eq!(pcr, PcrIndex::new(3)?);
/// assert_eq!(digest.to_hex(), format!("0a{}", "00".repeat(31)));
/// assert_eq!(warnings.len(), 1); // "pcr3" was normalised to "pcr03"
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measurements {
    banks: Vec<Bank>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Bank {
    alg: HashAlg,
    pcrs: Vec<(PcrIndex, Digest)>,
    // The key each entry of `pcrs` was written as, for provenance.
    keys: Vec<String>,
}

/// The prefix of the image manifest annotations that carry a podvm image's
/// measurements, one annotation per PCR value:
/// `io.github.confidential-containers.measurements.<bank>.pcrNN` = `0x<hex>`.
///
/// No upstream project defines these keys yet; rvkit reads and writes them
/// as [`Measurements::from_annotations`] describes, mirroring the shape of
/// `measurements.json` (bank, then two-digit PCR key, then hex value).
pub const MEASUREMENTS_ANNOTATION_PREFIX: &str = "io.github.confidential-containers.measurements.";

/// The label [`Measurements::parse`] gives its warnings.
pub const DEFAULT_MEASUREMENTS_LABEL: &str = "measurements.json";

impl Measurements {
    /// An empty set of banks, to fill with [`Measurements::insert`].
    pub fn new() -> Measurements {
        Measurements::default()
    }

    /// Parses a `measurements.json` document; see the type's documentation
    /// for the rules. Warnings carry the source label `measurements.json`;
    /// use [`Measurements::parse_labeled`] to name the file.
    pub fn parse(bytes: &[u8]) -> Result<(Measurements, Vec<Warning>), Error> {
        Measurements::parse_labeled(bytes, DEFAULT_MEASUREMENTS_LABEL)
    }

    /// Like [`Measurements::parse`], with `label` as the warnings' source.
    pub fn parse_labeled(bytes: &[u8], label: &str) -> Result<(Measurements, Vec<Warning>), Error> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| Error::MeasurementsJson {
            message: json_message(&e),
            line: e.line(),
            column: e.column(),
        })?;
        let top = expect_object(raw, "top level")?;
        let mut measurements = None;
        let mut seen = Vec::new();
        for (key, value) in top {
            check_duplicate(&mut seen, &key, "top level")?;
            if key == "measurements" {
                measurements = Some(value);
            } else {
                return Err(Error::UnknownKey { path: "top level".to_owned(), key });
            }
        }
        let banks = expect_object(measurements.ok_or(Error::MissingMeasurements)?, "measurements")?;

        let mut out = Measurements::new();
        let mut warnings = Vec::new();
        let mut seen = Vec::new();
        for (bank_name, entries) in banks {
            check_duplicate(&mut seen, &bank_name, "measurements")?;
            let alg = bank_alg(&bank_name).ok_or_else(|| Error::UnknownBank { bank: bank_name.clone() })?;
            let entries = expect_object(entries, &format!("measurements.{bank_name}"))?;
            let mut bank =
                Bank { alg, pcrs: Vec::with_capacity(entries.len().min(PcrIndex::COUNT)), keys: Vec::new() };
            let mut seen_keys = Vec::new();
            for (key, value) in entries {
                check_duplicate(&mut seen_keys, &key, &format!("measurements.{bank_name}"))?;
                let pcr = parse_pcr_key(alg, &key)?;
                if let Some(i) = bank.pcrs.iter().position(|(p, _)| *p == pcr) {
                    return Err(Error::DuplicatePcr {
                        bank: alg,
                        pcr: pcr.get(),
                        first: bank.keys[i].clone(),
                        second: key,
                    });
                }
                let hex = match value {
                    Raw::String(s) => s,
                    other => {
                        return Err(Error::NotAString { bank: alg, key, found: other.kind() });
                    }
                };
                let digest = Digest::parse_hex(alg, &hex).map_err(|source| Error::BadDigest {
                    bank: alg,
                    key: key.clone(),
                    source,
                })?;
                let canonical = canonical_key(pcr);
                if key != canonical {
                    warnings.push(Warning::new(
                        label,
                        format!("measurements.{bank_name} key {key:?} read as {canonical:?}"),
                    ));
                }
                bank.pcrs.push((pcr, digest));
                bank.keys.push(key);
            }
            out.banks.push(bank);
        }
        Ok((out, warnings))
    }

    /// Reads the measurements an image manifest's annotations carry, or
    /// `None` when no annotation key starts with
    /// [`MEASUREMENTS_ANNOTATION_PREFIX`] (other annotations are ignored).
    ///
    /// The rules are those of `measurements.json`, written as one
    /// annotation per value, and as strict: every annotation under the
    /// prefix must be `<prefix><bank>.pcrNN`, with a bank of `sha1`,
    /// `sha256`, `sha384` or `sha512` and `NN` exactly two digits naming
    /// PCR 0 to 23 (there is no legacy spelling to accept here), and its
    /// value hex of exactly the bank's digest length after one optional
    /// `0x` prefix. Any other key or value under the prefix is an error
    /// naming the annotation ([`Error::BadAnnotationKey`],
    /// [`Error::BadAnnotationValue`]): a value that is skipped here would be
    /// a reference value silently missing later.
    ///
    /// Banks and PCRs are kept in the order of their keys, so the result
    /// does not depend on the order the annotations are handed in.
    ///
    /// ```
    /// use rvkit_pcr::{HashAlg, PcrIndex};
    /// use rvkit_rvps::Measurements;
    ///
    /// let pcr03 = format!("0x{}", "3d".repeat(32));
    /// let annotations = [
    ///     ("org.opencontainers.image.version", "1.11.1"),
    ///     ("io.github.confidential-containers.measurements.sha256.pcr03", pcr03.as_str()),
    /// ];
    /// let m = Measurements::from_annotations(annotations)?.expect("annotations present");
    /// assert_eq!(m.bank(HashAlg::Sha256).unwrap()[0].0, PcrIndex::new(3)?);
    /// assert_eq!(m.to_annotations()[0].1, pcr03);
    ///
    /// let bad = [("io.github.confidential-containers.measurements.sha256.pcr3", pcr03.as_str())];
    /// assert!(Measurements::from_annotations(bad).is_err());
    /// assert_eq!(Measurements::from_annotations([("a", "b")])?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_annotations<'a>(
        annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Option<Measurements>, Error> {
        let mut ours: Vec<(&str, &str)> =
            annotations.into_iter().filter(|(k, _)| k.starts_with(MEASUREMENTS_ANNOTATION_PREFIX)).collect();
        if ours.is_empty() {
            return Ok(None);
        }
        ours.sort_unstable();
        let mut out = Measurements::new();
        for (key, value) in ours {
            let bad_key = || Error::BadAnnotationKey { key: key.to_owned() };
            let (bank, pcr) =
                key[MEASUREMENTS_ANNOTATION_PREFIX.len()..].split_once('.').ok_or_else(bad_key)?;
            let alg = bank_alg(bank).ok_or_else(bad_key)?;
            // The file's rule for PCR keys, with its canonical spelling only.
            let pcr =
                parse_pcr_key(alg, pcr).ok().filter(|p| canonical_key(*p) == pcr).ok_or_else(bad_key)?;
            let digest = Digest::parse_hex(alg, value)
                .map_err(|source| Error::BadAnnotationValue { key: key.to_owned(), source })?;
            out.insert(pcr, digest)?;
        }
        Ok(Some(out))
    }

    /// The annotations [`Measurements::from_annotations`] reads back into
    /// these measurements: one per value, keys as there, values lowercase
    /// hex with a `0x` prefix, in stored order.
    pub fn to_annotations(&self) -> Vec<(String, String)> {
        self.banks
            .iter()
            .flat_map(|bank| {
                bank.pcrs.iter().map(move |(p, d)| {
                    (
                        format!("{MEASUREMENTS_ANNOTATION_PREFIX}{}.{}", bank.alg.name(), canonical_key(*p)),
                        format!("0x{}", d.to_hex()),
                    )
                })
            })
            .collect()
    }

    /// Adds one PCR value to the bank of the digest's algorithm, keeping
    /// insertion order. A PCR already present in that bank is an error.
    pub fn insert(&mut self, pcr: PcrIndex, digest: Digest) -> Result<(), Error> {
        let alg = digest.alg();
        let i = match self.banks.iter().position(|b| b.alg == alg) {
            Some(i) => i,
            None => {
                self.banks.push(Bank { alg, pcrs: Vec::new(), keys: Vec::new() });
                self.banks.len() - 1
            }
        };
        let bank = &mut self.banks[i];
        if bank.pcrs.iter().any(|(p, _)| *p == pcr) {
            return Err(Error::DuplicatePcr {
                bank: alg,
                pcr: pcr.get(),
                first: canonical_key(pcr),
                second: canonical_key(pcr),
            });
        }
        bank.pcrs.push((pcr, digest));
        bank.keys.push(canonical_key(pcr));
        Ok(())
    }

    /// The PCR values of one bank in file order, or `None` if the file has
    /// no such bank.
    pub fn bank(&self, alg: HashAlg) -> Option<&[(PcrIndex, Digest)]> {
        self.banks.iter().find(|b| b.alg == alg).map(|b| b.pcrs.as_slice())
    }

    /// The banks present, in file order.
    pub fn banks(&self) -> impl Iterator<Item = HashAlg> + '_ {
        self.banks.iter().map(|b| b.alg)
    }

    /// The key a PCR was written as in the file (`pcr3` for a normalised
    /// `pcr03`), if that bank holds that PCR.
    pub fn key(&self, alg: HashAlg, pcr: PcrIndex) -> Option<&str> {
        let bank = self.banks.iter().find(|b| b.alg == alg)?;
        let i = bank.pcrs.iter().position(|(p, _)| *p == pcr)?;
        Some(&bank.keys[i])
    }

    /// The canonical `measurements.json` text: banks and PCRs in stored
    /// order, two-digit keys, lowercase hex with a `0x` prefix, two-space
    /// indentation and a final newline.
    pub fn to_json(&self) -> String {
        let mut banks = serde_json::Map::new();
        for bank in &self.banks {
            let pcrs: serde_json::Map<String, serde_json::Value> = bank
                .pcrs
                .iter()
                .map(|(p, d)| (canonical_key(*p), format!("0x{}", d.to_hex()).into()))
                .collect();
            banks.insert(bank.alg.name().to_owned(), pcrs.into());
        }
        let doc = serde_json::json!({ "measurements": banks });
        let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The bank a name in `measurements.json` (or an annotation) names: the
/// canonical lowercase spelling only (no `sha-256`, no upper case).
fn bank_alg(name: &str) -> Option<HashAlg> {
    HashAlg::ALL.into_iter().find(|alg| alg.name() == name)
}

/// `pcr03` for PCR 3.
pub(crate) fn canonical_key(pcr: PcrIndex) -> String {
    format!("pcr{:02}", pcr.get())
}

fn parse_pcr_key(bank: HashAlg, key: &str) -> Result<PcrIndex, Error> {
    let digits = key
        .strip_prefix("pcr")
        .filter(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| Error::BadPcrKey { bank, key: key.to_owned() })?;
    let out_of_range = || Error::PcrOutOfRange { bank, key: key.to_owned() };
    // Leading zeros carry no value; whatever is left must fit in two digits
    // before it is worth converting.
    let significant = digits.trim_start_matches('0');
    if significant.len() > 2 {
        return Err(out_of_range());
    }
    let n = significant.bytes().fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
    PcrIndex::new(n).map_err(|_| out_of_range())
}

fn expect_object(raw: Raw, path: &str) -> Result<Vec<(String, Raw)>, Error> {
    match raw {
        Raw::Object(entries) => Ok(entries),
        other => Err(Error::NotAnObject { path: path.to_owned(), found: other.kind() }),
    }
}

fn check_duplicate(seen: &mut Vec<String>, key: &str, path: &str) -> Result<(), Error> {
    // Objects here are small (a few banks, at most 24 valid PCR keys, and
    // parsing stops at the first invalid key), so a linear scan is enough.
    if seen.iter().any(|k| k == key) {
        return Err(Error::DuplicateKey { path: path.to_owned(), key: key.to_owned() });
    }
    seen.push(key.to_owned());
    Ok(())
}

/// serde_json's message without its own " at line L column C" suffix, which
/// the error variant carries as fields.
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PCR3: &str = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969";

    fn parse(s: &str) -> Result<(Measurements, Vec<Warning>), Error> {
        Measurements::parse(s.as_bytes())
    }

    fn doc(bank: &str, entries: &str) -> String {
        format!(r#"{{"measurements":{{"{bank}":{{{entries}}}}}}}"#)
    }

    #[test]
    fn reads_the_published_shape() {
        let z = "0".repeat(64);
        let json = format!(
            r#"{{"measurements":{{"sha256":{{"pcr03":"0x{PCR3}","pcr09":"0x0a{}","pcr11":"{}","pcr12":"0X{}"}}}}}}"#,
            &z[2..],
            "AB".repeat(32),
            "Cd".repeat(32),
        );
        let (m, w) = parse(&json).unwrap();
        assert!(w.is_empty());
        let bank = m.bank(HashAlg::Sha256).unwrap();
        let got: Vec<(u8, String)> = bank.iter().map(|(p, d)| (p.get(), d.to_hex())).collect();
        assert_eq!(
            got,
            [
                (3, PCR3.to_owned()),
                (9, format!("0a{}", &z[2..])),
                (11, "ab".repeat(32)),
                (12, "cd".repeat(32)),
            ]
        );
        assert!(m.bank(HashAlg::Sha384).is_none());
        assert_eq!(m.banks().collect::<Vec<_>>(), [HashAlg::Sha256]);
        assert_eq!(m.key(HashAlg::Sha256, PcrIndex::new(9).unwrap()), Some("pcr09"));
    }

    #[test]
    fn file_order_is_kept_and_several_banks_work() {
        let json = format!(
            r#"{{"measurements":{{"sha384":{{"pcr11":"{a}","pcr01":"{a}"}},"sha256":{{}}}}}}"#,
            a = "11".repeat(48)
        );
        let (m, _) = parse(&json).unwrap();
        let order: Vec<u8> = m.bank(HashAlg::Sha384).unwrap().iter().map(|(p, _)| p.get()).collect();
        assert_eq!(order, [11, 1]);
        assert_eq!(m.bank(HashAlg::Sha256).unwrap().len(), 0);
        assert_eq!(m.banks().collect::<Vec<_>>(), [HashAlg::Sha384, HashAlg::Sha256]);
    }

    #[test]
    fn short_keys_are_normalised_with_a_warning() {
        let (m, w) = Measurements::parse_labeled(
            doc("sha256", &format!(r#""pcr3":"{PCR3}","pcr008":"{PCR3}","pcr0":"{PCR3}""#)).as_bytes(),
            "podvm/measurements.json",
        )
        .unwrap();
        let pcrs: Vec<u8> = m.bank(HashAlg::Sha256).unwrap().iter().map(|(p, _)| p.get()).collect();
        assert_eq!(pcrs, [3, 8, 0]);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].source, "podvm/measurements.json");
        assert!(w[0].message.contains("\"pcr3\"") && w[0].message.contains("\"pcr03\""));
        assert_eq!(
            w[0].to_string(),
            "podvm/measurements.json: measurements.sha256 key \"pcr3\" read as \"pcr03\""
        );
        assert_eq!(m.key(HashAlg::Sha256, PcrIndex::new(3).unwrap()), Some("pcr3"));
    }

    #[test]
    fn bad_documents() {
        let e = parse("{").unwrap_err();
        assert!(matches!(e, Error::MeasurementsJson { line: 1, .. }), "{e}");
        let e = parse(&format!("{} x", doc("sha256", ""))).unwrap_err();
        assert!(
            matches!(e, Error::MeasurementsJson { ref message, .. } if message.contains("trailing")),
            "{e}"
        );
        assert!(matches!(parse(&format!("{}{{}}", doc("sha256", ""))), Err(Error::MeasurementsJson { .. })));
        assert!(matches!(parse(""), Err(Error::MeasurementsJson { .. })));
        assert!(matches!(parse("\u{feff}{}"), Err(Error::MeasurementsJson { .. })));
        assert!(matches!(
            Measurements::parse(b"{\"measurements\":\"\xff\"}"),
            Err(Error::MeasurementsJson { .. })
        ));
        assert!(matches!(
            parse("[]"),
            Err(Error::NotAnObject { ref path, found: "an array" }) if path == "top level"
        ));
        assert!(matches!(parse("\"x\""), Err(Error::NotAnObject { found: "a string", .. })));
        assert!(matches!(parse("{}"), Err(Error::MissingMeasurements)));
        assert!(matches!(
            parse(r#"{"measurements":{},"extra":1}"#),
            Err(Error::UnknownKey { ref key, .. }) if key == "extra"
        ));
        assert!(matches!(
            parse(r#"{"measurements":{},"measurements":{}}"#),
            Err(Error::DuplicateKey { ref path, ref key }) if path == "top level" && key == "measurements"
        ));
        assert!(matches!(
            parse(r#"{"measurements":[]}"#),
            Err(Error::NotAnObject { ref path, .. }) if path == "measurements"
        ));
        assert!(matches!(
            parse(r#"{"measurements":{"sha256":{},"sha256":{}}}"#),
            Err(Error::DuplicateKey { ref path, .. }) if path == "measurements"
        ));
        for bank in ["SHA256", "sha-256", "md5", "sha3_256", ""] {
            assert!(
                matches!(parse(&doc(bank, "")), Err(Error::UnknownBank { bank: ref b }) if b == bank),
                "{bank}"
            );
        }
        assert!(matches!(
            parse(r#"{"measurements":{"sha256":"x"}}"#),
            Err(Error::NotAnObject { ref path, .. }) if path == "measurements.sha256"
        ));
    }

    #[test]
    fn bad_keys() {
        for key in
            ["pcrx", "PCR03", "Pcr03", "pcr", "pcr-1", "pcr+3", "pcr 3", "pcr3 ", "03", "pcr３", "pcr0x3"]
        {
            let e = parse(&doc("sha256", &format!(r#""{key}":"{PCR3}""#))).unwrap_err();
            assert!(
                matches!(e, Error::BadPcrKey { bank: HashAlg::Sha256, key: ref k } if k == key),
                "{key}: {e}"
            );
        }
        for key in ["pcr24", "pcr99", "pcr100", "pcr0024", "pcr99999999999999999999999"] {
            let e = parse(&doc("sha256", &format!(r#""{key}":"{PCR3}""#))).unwrap_err();
            assert!(matches!(e, Error::PcrOutOfRange { key: ref k, .. } if k == key), "{key}: {e}");
        }
        assert!(parse(&doc("sha256", &format!(r#""pcr23":"{PCR3}""#))).is_ok());
        assert!(parse(&doc("sha256", &format!(r#""pcr00000000000000000000023":"{PCR3}""#))).is_ok());
    }

    #[test]
    fn duplicates() {
        let e = parse(&doc("sha256", &format!(r#""pcr03":"{PCR3}","pcr03":"{PCR3}""#))).unwrap_err();
        assert!(
            matches!(e, Error::DuplicateKey { ref key, ref path } if key == "pcr03" && path == "measurements.sha256"),
            "{e}"
        );
        // Different values under the same raw key must not be resolved silently either.
        let e =
            parse(&doc("sha256", &format!(r#""pcr03":"{PCR3}","pcr03":"{}""#, "00".repeat(32)))).unwrap_err();
        assert!(matches!(e, Error::DuplicateKey { .. }), "{e}");
        let e = parse(&doc("sha256", &format!(r#""pcr03":"{PCR3}","pcr3":"{PCR3}""#))).unwrap_err();
        assert!(
            matches!(e, Error::DuplicatePcr { pcr: 3, ref first, ref second, .. } if first == "pcr03" && second == "pcr3"),
            "{e}"
        );
    }

    #[test]
    fn bad_values() {
        let cases = [
            (r#"3"#, "a number"),
            (r#"null"#, "null"),
            (r#"["00"]"#, "an array"),
            (r#"{"v":"00"}"#, "an object"),
            (r#"true"#, "a boolean"),
        ];
        for (value, kind) in cases {
            let e = parse(&doc("sha256", &format!(r#""pcr09":{value}"#))).unwrap_err();
            assert!(
                matches!(e, Error::NotAString { ref key, found, .. } if key == "pcr09" && found == kind),
                "{value}: {e}"
            );
            assert!(e.to_string().contains("pcr09"));
        }
        let bad_hex = [
            format!("0x{}", &PCR3[1..]),         // odd
            PCR3[2..].to_owned(),                // short
            format!("{PCR3}00"),                 // long
            format!("0x0x{}", &PCR3[4..]),       // double prefix
            format!("0x{}", &PCR3[..62]) + "zz", // non-hex
            format!(" {}", &PCR3[1..]),          // blank
            String::new(),
            "0x".to_owned(),
            format!("x0{}", &PCR3[2..]),
            "00".repeat(48), // sha384 length in sha256 bank
        ];
        for v in &bad_hex {
            let e = parse(&doc("sha256", &format!(r#""pcr11":"{v}""#))).unwrap_err();
            assert!(
                matches!(e, Error::BadDigest { bank: HashAlg::Sha256, ref key, .. } if key == "pcr11"),
                "{v}: {e}"
            );
        }
        // sha384 lengths are checked against their own bank.
        assert!(parse(&doc("sha384", &format!(r#""pcr11":"{PCR3}""#))).is_err());
        assert!(parse(&doc("sha384", &format!(r#""pcr11":"{}""#, "0".repeat(96)))).is_ok());
    }

    #[test]
    fn insert_and_to_json() {
        let mut m = Measurements::new();
        let d = Digest::parse_hex(HashAlg::Sha256, PCR3).unwrap();
        m.insert(PcrIndex::new(3).unwrap(), d).unwrap();
        assert!(matches!(m.insert(PcrIndex::new(3).unwrap(), d), Err(Error::DuplicatePcr { pcr: 3, .. })));
        let json = m.to_json();
        assert_eq!(
            json,
            format!(
                "{{\n  \"measurements\": {{\n    \"sha256\": {{\n      \"pcr03\": \"0x{PCR3}\"\n    }}\n  }}\n}}\n"
            )
        );
        assert_eq!(Measurements::parse(json.as_bytes()).unwrap().0, m);
    }

    const PREFIX: &str = MEASUREMENTS_ANNOTATION_PREFIX;

    fn annotation(rest: &str) -> String {
        format!("{PREFIX}{rest}")
    }

    #[test]
    fn annotations_read_as_the_published_file_does() {
        // The release file of the demo, written as annotations by hand.
        let file = include_bytes!("../../../data/demo/measurements.json");
        let (from_file, _) = Measurements::parse(file).unwrap();
        let values: Vec<(String, String)> = from_file
            .bank(HashAlg::Sha256)
            .unwrap()
            .iter()
            .map(|(p, d)| (annotation(&format!("sha256.pcr{:02}", p.get())), format!("0x{}", d.to_hex())))
            .collect();
        // Other annotations are ignored, and the order they come in does not matter.
        let mut given: Vec<(&str, &str)> =
            values.iter().rev().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        given.push(("org.opencontainers.image.version", "1.11.1"));
        given.push(("io.github.confidential-containers.measurements-format", "1"));
        let m = Measurements::from_annotations(given).unwrap().unwrap();
        assert_eq!(m, from_file);
        assert_eq!(m.to_annotations(), values);
        assert_eq!(
            Measurements::from_annotations([("org.opencontainers.image.version", "1")]).unwrap(),
            None
        );
        assert_eq!(Measurements::from_annotations([]).unwrap(), None);
    }

    #[test]
    fn annotations_of_several_banks_are_sorted_by_key() {
        let (a, b) = ("aa".repeat(48), "0x".to_owned() + &"BB".repeat(20));
        let keys = [annotation("sha384.pcr11"), annotation("sha1.pcr23"), annotation("sha384.pcr00")];
        let m =
            Measurements::from_annotations([(keys[0].as_str(), a.as_str()), (&keys[1], &b), (&keys[2], &a)])
                .unwrap()
                .unwrap();
        assert_eq!(m.banks().collect::<Vec<_>>(), [HashAlg::Sha1, HashAlg::Sha384]);
        let pcrs: Vec<u8> = m.bank(HashAlg::Sha384).unwrap().iter().map(|(p, _)| p.get()).collect();
        assert_eq!(pcrs, [0, 11]);
        assert_eq!(m.bank(HashAlg::Sha1).unwrap()[0].1.to_hex(), "bb".repeat(20));
    }

    #[test]
    fn bad_annotation_keys_are_errors_naming_the_key() {
        let v = format!("0x{PCR3}");
        for rest in [
            "",
            "sha256",
            "sha256.",
            "sha256.pcr3",
            "sha256.pcr003",
            "sha256.pcr24",
            "sha256.pcr99",
            "sha256.PCR03",
            "sha256.pcrx3",
            "sha256.pcr+3",
            "sha256.pcr03.x",
            "sha256.pcr03 ",
            "SHA256.pcr03",
            "sha-256.pcr03",
            "md5.pcr03",
            "sm3_256.pcr03",
            ".pcr03",
            "pcr03",
        ] {
            let key = annotation(rest);
            let e = Measurements::from_annotations([(key.as_str(), v.as_str())]).unwrap_err();
            assert!(matches!(e, Error::BadAnnotationKey { key: ref k } if *k == key), "{rest:?}: {e}");
        }
        let e =
            Measurements::from_annotations([(annotation("sha256.pcr3").as_str(), v.as_str())]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "manifest annotation \"io.github.confidential-containers.measurements.sha256.pcr3\" is not \
             io.github.confidential-containers.measurements.<bank>.pcrNN (bank sha1, sha256, sha384 or sha512; \
             NN from 00 to 23)"
        );
    }

    #[test]
    fn bad_annotation_values_are_errors_naming_the_key() {
        let key = annotation("sha256.pcr11");
        for v in [
            format!("0x{}", &PCR3[2..]),
            format!("{PCR3}00"),
            format!("0x0x{}", &PCR3[4..]),
            format!("0x{}zz", &PCR3[..62]),
            String::new(),
            "0x".to_owned(),
            "00".repeat(48),
            format!(" {}", &PCR3[1..]),
        ] {
            let e = Measurements::from_annotations([(key.as_str(), v.as_str())]).unwrap_err();
            assert!(matches!(e, Error::BadAnnotationValue { key: ref k, .. } if *k == key), "{v:?}: {e}");
        }
        let e = Measurements::from_annotations([(key.as_str(), "0x00")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad value for manifest annotation \"io.github.confidential-containers.measurements.sha256.pcr11\""
        );
        // One bad annotation spoils the set, whatever else is there.
        let good = annotation("sha256.pcr03");
        assert!(Measurements::from_annotations([(good.as_str(), PCR3), (key.as_str(), "0x00")]).is_err());
    }

    fn arb_measurements() -> impl Strategy<Value = Measurements> {
        proptest::collection::btree_map(0u32..24, proptest::collection::vec(any::<u8>(), 32), 0..10).prop_map(
            |pcrs| {
                let mut m = Measurements::new();
                for (p, bytes) in pcrs {
                    let d = Digest::from_slice(HashAlg::Sha256, &bytes).unwrap();
                    m.insert(PcrIndex::new(p).unwrap(), d).unwrap();
                }
                m
            },
        )
    }

    proptest! {
        #[test]
        fn to_json_round_trips(m in arb_measurements()) {
            let (back, w) = Measurements::parse(m.to_json().as_bytes()).unwrap();
            prop_assert!(w.is_empty());
            prop_assert_eq!(back, m);
        }

        #[test]
        fn annotations_round_trip(m in arb_measurements()) {
            let annotations = m.to_annotations();
            let back = Measurements::from_annotations(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .unwrap();
            prop_assert_eq!(back.unwrap_or_default(), m);
        }

        #[test]
        fn hex_spelling_does_not_matter(bytes in proptest::collection::vec(any::<u8>(), 32), upper: bool, prefix: bool) {
            let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let lower = hex.clone();
            if upper { hex = hex.to_uppercase(); }
            if prefix { hex.insert_str(0, "0x"); }
            let (m, _) = parse(&doc("sha256", &format!(r#""pcr08":"{hex}""#))).unwrap();
            prop_assert_eq!(m.bank(HashAlg::Sha256).unwrap()[0].1.to_hex(), lower);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Measurements::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_near_misses(key in "pcr[0-9x]{0,4}", value in "(0x)?[0-9a-fA-Fx]{0,70}") {
            let _ = parse(&doc("sha256", &format!(r#""{key}":"{value}""#)));
        }
    }
}
