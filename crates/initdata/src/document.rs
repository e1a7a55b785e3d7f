use std::ops::Range;

use rvkit_pcr::{Digest, HashAlg};
use toml_edit::{Document, Item, Value};

use crate::Error;

/// The only initdata version defined so far.
pub const VERSION: &str = "0.1.0";

/// A parsed initdata document that keeps its original bytes.
///
/// The digest is always computed over [`raw`](InitData::raw), the exact bytes
/// that were parsed, because that is what the guest hashes: a re-serialised
/// document would differ in line endings, quoting or the final newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitData {
    raw: Vec<u8>,
    algorithm: HashAlg,
    version: String,
    entries: Vec<Entry>,
    unknown_keys: Vec<String>,
}

/// One `[data]` entry and where its value starts in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
    /// The document line of the value's first content line, when the value
    /// is a literal string, whose lines map one to one onto the document.
    content_line: Option<usize>,
}

impl InitData {
    /// Parses an initdata document.
    ///
    /// Fails when the bytes are not UTF-8 or not TOML, when `version` is not
    /// `"0.1.0"`, when `algorithm` is not one of sha256, sha384, sha512, when
    /// there is no `[data]` table, or when a `[data]` value is not a string.
    /// These are the checks the Kata runtime and the attestation agent make
    /// before they accept a document, so a document that fails here would be
    /// refused by the guest too.
    ///
    /// Unknown top-level keys are accepted, as upstream accepts them (both
    /// parsers deserialise into a struct that ignores unknown fields); they are
    /// listed by [`unknown_keys`](InitData::unknown_keys) and reported as a
    /// warning by [`validate`](InitData::validate).
    pub fn parse(bytes: &[u8]) -> Result<InitData, Error> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::NotUtf8 { offset: e.valid_up_to() })?;
        let doc = Document::parse(text).map_err(|e| toml_error(text, &e))?;
        let root = doc.as_table();

        let version = top_level_str(root.get("version"), "version")?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion { found: version.to_owned() });
        }
        let algorithm = parse_algorithm(top_level_str(root.get("algorithm"), "algorithm")?)?;

        let data = root.get("data").ok_or(Error::MissingKey { key: "data" })?;
        let mut entries = Vec::new();
        let mut push = |key: &str, item: Option<&Value>, type_name: &'static str| match item
            .and_then(|v| v.as_str().map(|s| (s, v.span())))
        {
            Some((value, span)) => {
                entries.push(Entry {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    content_line: span.and_then(|s| content_line(text, s)),
                });
                Ok(())
            }
            None => Err(Error::NonStringData { key: key.to_owned(), found: type_name }),
        };
        match data {
            Item::Table(t) => {
                for (key, item) in t.iter() {
                    push(key, item.as_value(), item.type_name())?;
                }
            }
            Item::Value(Value::InlineTable(t)) => {
                for (key, value) in t.iter() {
                    push(key, Some(value), value.type_name())?;
                }
            }
            other => {
                return Err(Error::WrongType { key: "data", expected: "table", found: other.type_name() });
            }
        }

        let unknown_keys = root
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !matches!(*k, "version" | "algorithm" | "data"))
            .map(str::to_owned)
            .collect();

        Ok(InitData { raw: bytes.to_vec(), algorithm, version: version.to_owned(), entries, unknown_keys })
    }

    /// The document exactly as it was parsed.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The document's `algorithm`.
    pub fn algorithm(&self) -> HashAlg {
        self.algorithm
    }

    /// The document's `version` (always `"0.1.0"` for a parsed document).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The value of a `[data]` entry.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.value.as_str())
    }

    /// The `[data]` entries in document order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|e| (e.key.as_str(), e.value.as_str()))
    }

    /// The one-based document line that holds the first line of a `[data]`
    /// value, so errors inside an embedded document can point into the outer
    /// one. Only known for literal strings (`'...'` and `'''...'''`), the only
    /// kind whose lines map one to one onto the document.
    pub fn value_line(&self, key: &str) -> Option<usize> {
        self.entries.iter().find(|e| e.key == key)?.content_line
    }

    /// Top-level keys other than `version`, `algorithm` and `data`, in
    /// document order.
    pub fn unknown_keys(&self) -> &[String] {
        &self.unknown_keys
    }

    /// `D = H_algorithm(raw bytes)`: the digest the runtime passes to the TEE.
    pub fn digest(&self) -> Digest {
        self.algorithm.hash(&self.raw)
    }
}

fn top_level_str<'a>(item: Option<&'a Item>, key: &'static str) -> Result<&'a str, Error> {
    let item = item.ok_or(Error::MissingKey { key })?;
    item.as_str().ok_or(Error::WrongType { key, expected: "string", found: item.type_name() })
}

/// Accepts exactly the lowercase names upstream compares against; `SHA256`
/// or `sha-256` would be refused by the Kata runtime, so they are refused here.
fn parse_algorithm(name: &str) -> Result<HashAlg, Error> {
    match name {
        "sha256" => Ok(HashAlg::Sha256),
        "sha384" => Ok(HashAlg::Sha384),
        "sha512" => Ok(HashAlg::Sha512),
        _ => Err(Error::UnknownAlgorithm { found: name.to_owned() }),
    }
}

/// The document line of the first content line of the literal string at
/// `span`, following the TOML rule that a newline right after the opening
/// `'''` is not part of the value.
fn content_line(text: &str, span: Range<usize>) -> Option<usize> {
    let raw = text.get(span.clone())?;
    let line = line_col(text, span.start).0;
    if let Some(rest) = raw.strip_prefix("'''") {
        let skips_newline = rest.starts_with('\n') || rest.starts_with("\r\n");
        Some(line + usize::from(skips_newline))
    } else if raw.starts_with('\'') {
        Some(line)
    } else {
        None
    }
}

/// Converts a TOML parser error into [`Error::Toml`] with a line and column.
pub(crate) fn toml_error(text: &str, e: &toml_edit::TomlError) -> Error {
    let (line, column) = line_col(text, e.span().map_or(0, |s: Range<usize>| s.start));
    Error::Toml { line, column, message: e.message().replace('\n', " ").trim().to_owned() }
}

/// The one-based line and character column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n";

    #[test]
    fn parses_entries_in_document_order() {
        let doc = format!("{MINIMAL}\"z\" = \"1\"\na = '''\nmulti\nline'''\nm = 'x'\nb = '''c\n'''\n");
        let d = InitData::parse(doc.as_bytes()).unwrap();
        let keys: Vec<_> = d.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "a", "m", "b"]);
        assert_eq!(d.get("a"), Some("multi\nline"));
        assert_eq!(d.get("nope"), None);
        assert_eq!(d.value_line("a"), Some(6));
        assert_eq!(d.value_line("m"), Some(8));
        assert_eq!(d.value_line("b"), Some(9));
        assert_eq!(d.value_line("z"), None);
        assert_eq!(d.version(), "0.1.0");
        assert_eq!(d.algorithm(), HashAlg::Sha256);
        assert_eq!(d.raw(), doc.as_bytes());
    }

    #[test]
    fn inline_data_table_is_accepted() {
        let doc = "version = \"0.1.0\"\nalgorithm = \"sha512\"\ndata = { b = \"2\", a = \"1\" }\n";
        let d = InitData::parse(doc.as_bytes()).unwrap();
        assert_eq!(d.entries().collect::<Vec<_>>(), [("b", "2"), ("a", "1")]);
    }

    #[test]
    fn empty_data_is_accepted() {
        let d = InitData::parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(d.entries().count(), 0);
    }

    #[test]
    fn unknown_top_level_keys_are_kept_for_a_warning() {
        let doc = format!("extra = 1\n{MINIMAL}");
        let d = InitData::parse(doc.as_bytes()).unwrap();
        assert_eq!(d.unknown_keys(), ["extra"]);
    }

    #[test]
    fn not_utf8_reports_offset() {
        let mut doc = MINIMAL.as_bytes().to_vec();
        doc.extend_from_slice(b"a = \"\xff\"\n");
        assert_eq!(InitData::parse(&doc), Err(Error::NotUtf8 { offset: MINIMAL.len() + 5 }));
    }

    #[test]
    fn toml_syntax_error_reports_line_and_column() {
        let doc = format!("{MINIMAL}a = \"unterminated\n");
        let Err(Error::Toml { line, column, .. }) = InitData::parse(doc.as_bytes()) else {
            panic!("expected a toml error");
        };
        assert_eq!(line, 4);
        assert!(column > 1, "column {column}");
    }

    #[test]
    fn duplicate_keys_are_toml_errors() {
        let doc = format!("{MINIMAL}a = \"1\"\na = \"2\"\n");
        assert!(matches!(InitData::parse(doc.as_bytes()), Err(Error::Toml { line: 5, .. })));
    }

    #[test]
    fn version_errors() {
        let doc = "algorithm = \"sha256\"\n[data]\n";
        assert_eq!(InitData::parse(doc.as_bytes()), Err(Error::MissingKey { key: "version" }));
        let doc = "version = \"0.2.0\"\nalgorithm = \"sha256\"\n[data]\n";
        assert_eq!(InitData::parse(doc.as_bytes()), Err(Error::UnsupportedVersion { found: "0.2.0".into() }));
        let doc = "version = 1\nalgorithm = \"sha256\"\n[data]\n";
        assert_eq!(
            InitData::parse(doc.as_bytes()),
            Err(Error::WrongType { key: "version", expected: "string", found: "integer" })
        );
    }

    #[test]
    fn algorithm_errors() {
        for alg in ["sha1", "SHA256", "sha-256", "md5", ""] {
            let doc = format!("version = \"0.1.0\"\nalgorithm = \"{alg}\"\n[data]\n");
            assert_eq!(
                InitData::parse(doc.as_bytes()),
                Err(Error::UnknownAlgorithm { found: alg.into() }),
                "{alg}"
            );
        }
        let doc = "version = \"0.1.0\"\n[data]\n";
        assert_eq!(InitData::parse(doc.as_bytes()), Err(Error::MissingKey { key: "algorithm" }));
    }

    #[test]
    fn data_errors() {
        let doc = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n";
        assert_eq!(InitData::parse(doc.as_bytes()), Err(Error::MissingKey { key: "data" }));
        let doc = "version = \"0.1.0\"\nalgorithm = \"sha256\"\ndata = \"x\"\n";
        assert_eq!(
            InitData::parse(doc.as_bytes()),
            Err(Error::WrongType { key: "data", expected: "table", found: "string" })
        );
        let doc = format!("{MINIMAL}a = \"1\"\n[data.nested]\nb = \"2\"\n");
        assert_eq!(
            InitData::parse(doc.as_bytes()),
            Err(Error::NonStringData { key: "nested".into(), found: "table" })
        );
        let doc = format!("{MINIMAL}a.b = \"1\"\n");
        assert!(matches!(
            InitData::parse(doc.as_bytes()),
            Err(Error::NonStringData { key, .. }) if key == "a"
        ));
        let doc = format!("{MINIMAL}n = 5\n");
        assert_eq!(
            InitData::parse(doc.as_bytes()),
            Err(Error::NonStringData { key: "n".into(), found: "integer" })
        );
        let doc = "version = \"0.1.0\"\nalgorithm = \"sha256\"\ndata = { n = [1] }\n";
        assert_eq!(
            InitData::parse(doc.as_bytes()),
            Err(Error::NonStringData { key: "n".into(), found: "array" })
        );
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
