use std::fmt::Write as _;

use rvkit_initdata::INITDATA_PCR;
use rvkit_pcr::{Digest, ExtendStep, HashAlg, PcrIndex};

use crate::measurements::canonical_key;
use crate::{Error, Expiration, Measurements, PcrPrefix, ReferenceValue, RvName, Warning};

/// The label of the built-in dummy initdata document in warnings and
/// transcripts.
pub const DUMMY_INITDATA_LABEL: &str = "built-in dummy initdata";

/// Everything [`build`] turns into reference values.
#[derive(Debug, Clone)]
pub struct EmitInput<'a> {
    /// Parsed measurement files, each with a label for messages (usually the
    /// file name). Several files merge per PCR.
    pub measurements: Vec<(String, Measurements)>,
    /// Initdata documents as raw bytes (the digest is over exactly these
    /// bytes), each with a label.
    pub initdata: Vec<(String, &'a [u8])>,
    /// Also accept the PCR8 of the built-in dummy initdata that peer pods
    /// use when a pod has no initdata.
    pub include_dummy_initdata: bool,
    /// The vTPM PCR name prefixes to emit names with (`snp_`, `tdx_`).
    pub pcr_prefixes: Vec<PcrPrefix>,
    /// The bank whose PCRs are emitted; SHA-256 for Azure vTPMs.
    pub bank: HashAlg,
    /// The expiration of every emitted value.
    pub expiration: Expiration,
}

impl<'a> EmitInput<'a> {
    /// An input with no sources, both platforms, the SHA-256 bank and the
    /// given expiration.
    pub fn new(expiration: Expiration) -> EmitInput<'a> {
        EmitInput {
            measurements: Vec::new(),
            initdata: Vec::new(),
            include_dummy_initdata: false,
            pcr_prefixes: PcrPrefix::ALL.to_vec(),
            bank: HashAlg::Sha256,
            expiration,
        }
    }
}

/// Where one emitted value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A PCR of a measurements file.
    Measurements {
        /// The file's label.
        source: String,
        /// The bank.
        bank: HashAlg,
        /// The key as written in the file (`pcr3` if it was normalised).
        key: String,
    },
    /// The PCR8 an initdata document produces.
    Initdata {
        /// The document's label ([`DUMMY_INITDATA_LABEL`] for the dummy).
        label: String,
        /// The document's `algorithm`.
        algorithm: HashAlg,
        /// The document's digest in that algorithm.
        digest: Digest,
        /// The extend of PCR8 that yields the value (boxed: it holds three
        /// digests and would otherwise triple the size of every origin).
        extend: Box<ExtendStep>,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Measurements { source, bank, key } => {
                write!(f, "measurements {source}, {bank} bank, key {key:?}")
            }
            Origin::Initdata { label, algorithm, digest, extend } => {
                write!(f, "initdata {label}: {algorithm} digest {digest}; {extend}")
            }
        }
    }
}

/// One value of an emitted entry with everything that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueOrigin {
    /// The value, lowercase hex without a prefix.
    pub value: String,
    /// Every source that yielded this value, in input order.
    pub origins: Vec<Origin>,
}

/// The result of [`build`]: reference values sorted as the walkthrough's jq
/// program sorts them (by PCR number, then by name), each with the origin of
/// each of its values.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceValueSet {
    values: Vec<ReferenceValue>,
    origins: Vec<Vec<ValueOrigin>>,
}

impl ReferenceValueSet {
    /// A set of given reference values, in the given order and without
    /// origins: for re-rendering published values in another format. A name
    /// given twice is an error.
    pub fn from_values(values: Vec<ReferenceValue>) -> Result<ReferenceValueSet, Error> {
        let mut seen = std::collections::HashSet::new();
        for rv in &values {
            if !seen.insert(&rv.name) {
                return Err(Error::DuplicateName { name: rv.name.as_str().to_owned() });
            }
        }
        let origins = vec![Vec::new(); values.len()];
        Ok(ReferenceValueSet { values, origins })
    }

    /// The reference values in emission order.
    pub fn values(&self) -> &[ReferenceValue] {
        &self.values
    }

    /// Each reference value with the origins of its values (parallel to
    /// [`ReferenceValueSet::values`]).
    pub fn entries(&self) -> impl Iterator<Item = (&ReferenceValue, &[ValueOrigin])> {
        self.values.iter().zip(self.origins.iter().map(Vec::as_slice))
    }

    /// A human-readable account of every emitted name: each value and where
    /// it came from (measurements file and key, or initdata document with its
    /// algorithm, digest and the PCR8 extend that yields the value).
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for (rv, values) in self.entries() {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{} (expires {})", rv.name, rv.expiration);
            for v in values {
                let _ = writeln!(out, "  {}", v.value);
                for origin in &v.origins {
                    let _ = writeln!(out, "    from {origin}");
                }
            }
        }
        out
    }
}

/// Accumulates the value list of one PCR: first-appearance order, no repeats.
#[derive(Default)]
struct ValueList(Vec<ValueOrigin>);

impl ValueList {
    fn add(&mut self, value: &Digest, origin: Origin) {
        let hex = value.to_hex();
        match self.0.iter_mut().find(|v| v.value == hex) {
            Some(v) => v.origins.push(origin),
            None => self.0.push(ValueOrigin { value: hex, origins: vec![origin] }),
        }
    }

    fn contains(&self, value: &Digest) -> bool {
        let hex = value.to_hex();
        self.0.iter().any(|v| v.value == hex)
    }
}

/// Turns measurements and initdata into reference values.
///
/// - Every PCR of the chosen bank in every measurements source becomes one
///   entry per platform, named `<tee>_pcrNN`. Several sources merge per PCR
///   into one value list: order of first appearance, repeats dropped.
/// - `pcr08` gets the PCR8 of each initdata document (in the given order),
///   then the dummy initdata's PCR8 if asked, then any `pcr08` the
///   measurements carry, again without repeats. When initdata (or the dummy)
///   is given, a measured `pcr08` must be one of those PCR8 values, otherwise
///   it is an error naming both: the image was measured with other initdata
///   than the one being published.
/// - Initdata whose algorithm is not sha256 gets a warning: the vTPM extends
///   only the first 32 bytes of its digest and the attestation agent and
///   Trustee expect a 32-byte digest. No `pcr08` at all also gets a warning,
///   because the operator's default policy checks it.
/// - Entries are sorted by PCR number, then name (as the walkthrough's jq
///   `sort_by(.sort_idx, .name)`); each value is a JSON array of lowercase
///   hex strings.
pub fn build(input: &EmitInput) -> Result<(ReferenceValueSet, Vec<Warning>), Error> {
    let mut prefixes: Vec<PcrPrefix> = Vec::new();
    for prefix in &input.pcr_prefixes {
        if !prefixes.contains(prefix) {
            prefixes.push(*prefix);
        }
    }
    if prefixes.is_empty() {
        return Err(Error::NoPcrPrefixes);
    }
    let pcr8 = pcr_index(INITDATA_PCR);
    let wants_initdata = !input.initdata.is_empty() || input.include_dummy_initdata;
    if wants_initdata && input.bank != HashAlg::Sha256 {
        return Err(Error::InitdataNeedsSha256 { bank: input.bank });
    }

    let mut warnings = Vec::new();
    // Index = PCR number; 24 small lists, most empty.
    let mut lists: Vec<ValueList> = (0..PcrIndex::COUNT).map(|_| ValueList::default()).collect();

    // PCR8 from initdata first, so that its order (the documents' order)
    // leads the pcr08 list.
    let mut documents: Vec<(&str, &[u8])> =
        input.initdata.iter().map(|(label, bytes)| (label.as_str(), *bytes)).collect();
    if input.include_dummy_initdata {
        documents.push((DUMMY_INITDATA_LABEL, rvkit_initdata::DUMMY_INITDATA.as_bytes()));
    }
    let mut initdata_pcr8: Vec<(String, Digest)> = Vec::new();
    for (label, bytes) in documents {
        let doc = rvkit_initdata::InitData::parse(bytes)
            .map_err(|source| Error::Initdata { label: label.to_owned(), source })?;
        let algorithm = doc.algorithm();
        let digest = doc.digest();
        let value = doc.pcr8();
        if algorithm != HashAlg::Sha256 {
            warnings.push(Warning::new(
                label,
                format!(
                    "initdata uses {algorithm}: the vTPM extends PCR8 with only the first 32 bytes \
                     of its digest, and the attestation agent and Trustee expect a 32-byte (sha256) \
                     initdata digest on vTPM platforms, so attestation will likely fail; \
                     use algorithm = \"sha256\""
                ),
            ));
        }
        lists[usize::from(pcr8.get())].add(
            &value,
            Origin::Initdata {
                label: label.to_owned(),
                algorithm,
                digest,
                extend: Box::new(pcr8_extend(&digest)),
            },
        );
        initdata_pcr8.push((label.to_owned(), value));
    }

    for (source, m) in &input.measurements {
        let bank = m
            .bank(input.bank)
            .ok_or_else(|| Error::MissingBank { source_label: source.clone(), bank: input.bank })?;
        for (pcr, digest) in bank {
            if *pcr == pcr8 && wants_initdata && !lists[usize::from(pcr.get())].contains(digest) {
                return Err(Error::Pcr08Conflict {
                    source_label: source.clone(),
                    measured: digest.to_hex(),
                    initdata: initdata_pcr8.iter().map(|(label, d)| (label.clone(), d.to_hex())).collect(),
                });
            }
            let key = m.key(input.bank, *pcr).map_or_else(|| canonical_key(*pcr), str::to_owned);
            lists[usize::from(pcr.get())]
                .add(digest, Origin::Measurements { source: source.clone(), bank: input.bank, key });
        }
    }

    if lists[usize::from(pcr8.get())].0.is_empty() {
        warnings.push(Warning::new(
            "reference values",
            "no pcr08 value: Trustee's default attestation policy for peer pods checks \
             snp_pcr08/tdx_pcr08, so attestation will fail; give the initdata documents \
             the pods use (or the dummy initdata for pods without one)",
        ));
    }

    let mut entries: Vec<(u8, RvName, ReferenceValue, Vec<ValueOrigin>)> = Vec::new();
    for (n, list) in lists.into_iter().enumerate() {
        if list.0.is_empty() {
            continue;
        }
        let pcr = pcr_index(n as u32);
        let value: Vec<serde_json::Value> = list.0.iter().map(|v| v.value.clone().into()).collect();
        for prefix in &prefixes {
            let name = RvName::for_pcr(*prefix, pcr);
            let rv = ReferenceValue::new(name.clone(), input.expiration, value.clone().into());
            entries.push((pcr.get(), name, rv, list.0.clone()));
        }
    }
    if entries.is_empty() {
        return Err(Error::NothingToEmit { bank: input.bank });
    }
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let (values, origins) = entries.into_iter().map(|(_, _, rv, o)| (rv, o)).unzip();
    Ok((ReferenceValueSet { values, origins }, warnings))
}

/// The extend of PCR8 from reset that a vTPM performs for an initdata
/// digest (computed by rvkit-initdata, the one place that knows the rule).
fn pcr8_extend(digest: &Digest) -> ExtendStep {
    rvkit_initdata::pcr8_from_digest(digest).1
}

/// A PCR index from a number this module knows to be below 24.
fn pcr_index(n: u32) -> PcrIndex {
    PcrIndex::new(n).expect("index below PcrIndex::COUNT")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PCR3: &str = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969";

    fn exp() -> Expiration {
        "2027-12-12T00:00:00Z".parse().unwrap()
    }

    fn hex(byte: u8) -> String {
        format!("{byte:02x}").repeat(32)
    }

    fn measurements(pcrs: &[(u32, &str)]) -> Measurements {
        let mut m = Measurements::new();
        for (p, h) in pcrs {
            m.insert(PcrIndex::new(*p).unwrap(), Digest::parse_hex(HashAlg::Sha256, h).unwrap()).unwrap();
        }
        m
    }

    fn initdata(alg: &str, tag: &str) -> Vec<u8> {
        format!("algorithm = \"{alg}\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n# {tag}\n'''\n")
            .into_bytes()
    }

    fn names(set: &ReferenceValueSet) -> Vec<&str> {
        set.values().iter().map(|rv| rv.name.as_str()).collect()
    }

    fn values_of<'s>(set: &'s ReferenceValueSet, name: &str) -> Vec<&'s str> {
        let rv = set.values().iter().find(|rv| rv.name.as_str() == name).unwrap();
        rv.value.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
    }

    #[test]
    fn sorted_by_pcr_then_name_with_both_tees() {
        let mut input = EmitInput::new(exp());
        input.measurements.push((
            "m.json".into(),
            measurements(&[(12, &hex(12)), (3, PCR3), (11, &hex(11)), (9, &hex(9))]),
        ));
        let doc = initdata("sha256", "a");
        input.initdata.push(("a.toml".into(), &doc));
        let (set, warnings) = build(&input).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            names(&set),
            [
                "snp_pcr03",
                "tdx_pcr03",
                "snp_pcr08",
                "tdx_pcr08",
                "snp_pcr09",
                "tdx_pcr09",
                "snp_pcr11",
                "tdx_pcr11",
                "snp_pcr12",
                "tdx_pcr12"
            ]
        );
        assert_eq!(values_of(&set, "tdx_pcr03"), [PCR3]);
        for rv in set.values() {
            assert_eq!(rv.version, "0.1.0");
            assert_eq!(rv.expiration, exp());
        }
        let pcr8 = rvkit_initdata::InitData::parse(&doc).unwrap().pcr8().to_hex();
        assert_eq!(values_of(&set, "snp_pcr08"), [pcr8.as_str()]);
    }

    #[test]
    fn one_tee_and_repeated_tees() {
        let mut input = EmitInput::new(exp());
        input.measurements.push(("m".into(), measurements(&[(3, PCR3)])));
        input.pcr_prefixes = vec![PcrPrefix::Tdx, PcrPrefix::Tdx];
        input.include_dummy_initdata = true;
        let (set, _) = build(&input).unwrap();
        assert_eq!(names(&set), ["tdx_pcr03", "tdx_pcr08"]);
        input.pcr_prefixes.clear();
        assert!(matches!(build(&input), Err(Error::NoPcrPrefixes)));
    }

    #[test]
    fn sources_merge_in_order_without_repeats() {
        let mut input = EmitInput::new(exp());
        input.pcr_prefixes = vec![PcrPrefix::Snp];
        input.measurements.push(("a".into(), measurements(&[(9, &hex(1)), (3, PCR3)])));
        input.measurements.push(("b".into(), measurements(&[(3, PCR3), (9, &hex(2))])));
        input.measurements.push(("c".into(), measurements(&[(9, &hex(1)), (11, &hex(3))])));
        let (set, _) = build(&input).unwrap();
        assert_eq!(names(&set), ["snp_pcr03", "snp_pcr09", "snp_pcr11"]);
        assert_eq!(values_of(&set, "snp_pcr09"), [hex(1), hex(2)]);
        assert_eq!(values_of(&set, "snp_pcr03"), [PCR3]);
        let (_, origins) = set.entries().nth(1).unwrap();
        let sources: Vec<Vec<&str>> = origins
            .iter()
            .map(|v| {
                v.origins
                    .iter()
                    .map(|o| match o {
                        Origin::Measurements { source, .. } => source.as_str(),
                        Origin::Initdata { label, .. } => label.as_str(),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(sources, [vec!["a", "c"], vec!["b"]]);
    }

    #[test]
    fn pcr08_from_several_initdata_and_dummy() {
        let (a, b) = (initdata("sha256", "a"), initdata("sha256", "b"));
        let mut input = EmitInput::new(exp());
        input.initdata = vec![("b".into(), &b), ("a".into(), &a), ("b again".into(), &b)];
        input.include_dummy_initdata = true;
        let (set, warnings) = build(&input).unwrap();
        assert!(warnings.is_empty());
        let pcr8 = |d: &[u8]| rvkit_initdata::InitData::parse(d).unwrap().pcr8().to_hex();
        assert_eq!(
            values_of(&set, "snp_pcr08"),
            [pcr8(&b).as_str(), pcr8(&a).as_str(), rvkit_initdata::DUMMY_PCR8_HEX]
        );
        // design.md's dummy PCR8, independently of the initdata crate.
        assert_eq!(
            values_of(&set, "snp_pcr08")[2],
            "4b58b30becd30d16f7f60d56b32661d921ae0d3310c6a89f5d552f9bfee921a9"
        );
        let (_, origins) = set.entries().next().unwrap();
        assert_eq!(origins[0].origins.len(), 2, "both labels of b are kept");
    }

    #[test]
    fn measured_pcr08_must_match_initdata() {
        let a = initdata("sha256", "a");
        let a8 = rvkit_initdata::InitData::parse(&a).unwrap().pcr8().to_hex();
        let mut input = EmitInput::new(exp());
        input.initdata.push(("a.toml".into(), &a));
        input.measurements.push(("m.json".into(), measurements(&[(8, &hex(8)), (3, PCR3)])));
        match build(&input) {
            Err(e @ Error::Pcr08Conflict { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&hex(8)) && msg.contains(&a8), "{msg}");
                assert!(msg.contains("m.json") && msg.contains("a.toml"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        // Agreeing values are fine and merge, keeping both origins.
        input.measurements[0].1 = measurements(&[(8, &a8)]);
        let (set, _) = build(&input).unwrap();
        assert_eq!(values_of(&set, "snp_pcr08"), [a8.as_str()]);
        assert_eq!(set.entries().next().unwrap().1[0].origins.len(), 2);
        // The dummy counts as initdata when asked for.
        input.measurements[0].1 = measurements(&[(8, rvkit_initdata::DUMMY_PCR8_HEX)]);
        assert!(build(&input).is_err());
        input.include_dummy_initdata = true;
        assert!(build(&input).is_ok());
        // The dummy alone is checked as well.
        input.initdata.clear();
        input.measurements[0].1 = measurements(&[(8, &hex(8))]);
        assert!(
            matches!(build(&input), Err(Error::Pcr08Conflict { ref initdata, .. }) if initdata.len() == 1)
        );
        // Without any initdata, a measured pcr08 is simply used.
        input.include_dummy_initdata = false;
        input.measurements[0].1 = measurements(&[(8, &hex(8))]);
        let (set, w) = build(&input).unwrap();
        assert!(w.is_empty());
        assert_eq!(values_of(&set, "tdx_pcr08"), [hex(8)]);
    }

    #[test]
    fn warnings() {
        let docs = [initdata("sha384", "x"), initdata("sha512", "x")];
        let mut input = EmitInput::new(exp());
        input.measurements.push(("m".into(), measurements(&[(3, PCR3)])));
        let (_, w) = build(&input).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("pcr08"), "{}", w[0]);

        for (alg, doc) in ["sha384", "sha512"].into_iter().zip(&docs) {
            input.initdata = vec![("big.toml".into(), doc)];
            let (set, w) = build(&input).unwrap();
            assert_eq!(w.len(), 1, "{w:?}");
            assert_eq!(w[0].source, "big.toml");
            assert!(w[0].message.contains(alg) && w[0].message.contains("32 bytes"));
            // PCR8 is the extend of the digest's first 32 bytes.
            let parsed = rvkit_initdata::InitData::parse(doc).unwrap();
            let d = parsed.digest();
            let mut data = vec![0u8; 32];
            data.extend_from_slice(&d.as_bytes()[..32]);
            assert_eq!(values_of(&set, "snp_pcr08"), [HashAlg::Sha256.hash(&data).to_hex()]);
        }
    }

    #[test]
    fn input_errors() {
        let mut input = EmitInput::new(exp());
        assert!(matches!(build(&input), Err(Error::NothingToEmit { .. })));
        input.measurements.push(("empty".into(), Measurements::new()));
        assert!(matches!(
            build(&input),
            Err(Error::MissingBank { ref source_label, bank: HashAlg::Sha256 }) if source_label == "empty"
        ));
        let (m, _) = Measurements::parse(br#"{"measurements":{"sha256":{}}}"#).unwrap();
        input.measurements[0].1 = m;
        assert!(matches!(build(&input), Err(Error::NothingToEmit { .. })));
        let bad = b"algorithm = \"md5\"\nversion = \"0.1.0\"\n[data]\n";
        input.initdata.push(("bad.toml".into(), bad));
        assert!(matches!(build(&input), Err(Error::Initdata { ref label, .. }) if label == "bad.toml"));
        input.initdata.clear();
        input.include_dummy_initdata = true;
        input.bank = HashAlg::Sha384;
        assert!(matches!(build(&input), Err(Error::InitdataNeedsSha256 { bank: HashAlg::Sha384 })));
    }

    #[test]
    fn other_banks() {
        let mut m = Measurements::new();
        let d = Digest::parse_hex(HashAlg::Sha384, &"ab".repeat(48)).unwrap();
        m.insert(PcrIndex::new(11).unwrap(), d).unwrap();
        let mut input = EmitInput::new(exp());
        input.bank = HashAlg::Sha384;
        input.measurements.push(("m".into(), m));
        let (set, _) = build(&input).unwrap();
        assert_eq!(values_of(&set, "snp_pcr11"), ["ab".repeat(48)]);
    }

    #[test]
    fn trustee_vector_extends_to_published_pcr8() {
        // Trustee verifier tests (deps/verifier, az-snp-vtpm init_data):
        // digest 8505… gives PCR8 bddacc….
        let d = Digest::parse_hex(
            HashAlg::Sha256,
            "8505e4e25e50a27c5dc8147af88efbece627fbea55291911eff832d9ee127781",
        )
        .unwrap();
        let step = pcr8_extend(&d);
        assert_eq!(step.new.to_hex(), "bddaccb9c52249e97a31baea61b7d91be8221a16e703d92148d04fb8e9c1dfdd");
        assert_eq!(step.pcr.get(), 8);
    }

    #[test]
    fn transcript_explains_each_value() {
        let a = initdata("sha256", "a");
        let mut input = EmitInput::new(exp());
        input.pcr_prefixes = vec![PcrPrefix::Snp];
        let (mut m, _) =
            Measurements::parse(format!(r#"{{"measurements":{{"sha256":{{"pcr3":"{PCR3}"}}}}}}"#).as_bytes())
                .unwrap();
        m.insert(PcrIndex::new(9).unwrap(), Digest::parse_hex(HashAlg::Sha256, &hex(9)).unwrap()).unwrap();
        input.measurements.push(("podvm/measurements.json".into(), m));
        input.initdata.push(("initdata.toml".into(), &a));
        let (set, _) = build(&input).unwrap();
        let parsed = rvkit_initdata::InitData::parse(&a).unwrap();
        let t = set.transcript();
        let expected = format!(
            "snp_pcr03 (expires 2027-12-12T00:00:00Z)\n  {PCR3}\n    from measurements podvm/measurements.json, sha256 bank, key \"pcr3\"\n\
             snp_pcr08 (expires 2027-12-12T00:00:00Z)\n  {p8}\n    from initdata initdata.toml: sha256 digest {d}; pcr08 = sha256({z} || {d}) = {p8}\n\
             snp_pcr09 (expires 2027-12-12T00:00:00Z)\n  {h9}\n    from measurements podvm/measurements.json, sha256 bank, key \"pcr09\"\n",
            p8 = parsed.pcr8(),
            d = parsed.digest(),
            z = "00".repeat(32),
            h9 = hex(9),
        );
        assert_eq!(t, expected);
    }

    fn arb_input() -> impl Strategy<Value = (Vec<Measurements>, Vec<Vec<u8>>, bool, Vec<PcrPrefix>, HashAlg)>
    {
        let m = proptest::collection::btree_map(0u32..24, (any::<u8>(), 0usize..4), 0..6).prop_map(|pcrs| {
            let mut m = Measurements::new();
            for (p, (byte, alg)) in pcrs {
                let alg = HashAlg::ALL[alg];
                let d = Digest::from_slice(alg, &vec![byte % 4; alg.digest_len()]).unwrap();
                let _ = m.insert(PcrIndex::new(p).unwrap(), d);
            }
            m
        });
        let doc = prop_oneof![
            (0u8..3, 0u8..4).prop_map(|(alg, tag)| {
                initdata(["sha256", "sha384", "sha512"][usize::from(alg)], &tag.to_string())
            }),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        (
            proptest::collection::vec(m, 0..3),
            proptest::collection::vec(doc, 0..3),
            any::<bool>(),
            proptest::sample::subsequence(PcrPrefix::ALL.to_vec(), 0..=2),
            proptest::sample::select(HashAlg::ALL.to_vec()),
        )
    }

    proptest! {
        #[test]
        fn build_never_panics_and_keeps_its_promises(
            (ms, docs, dummy, tees, bank) in arb_input(),
            secs in -100_000_000_000i64..300_000_000_000,
        ) {
            let mut input = EmitInput::new(Expiration::from_unix(secs));
            input.measurements = ms.into_iter().enumerate().map(|(i, m)| (format!("m{i}"), m)).collect();
            input.initdata = docs.iter().enumerate().map(|(i, d)| (format!("d{i}"), d.as_slice())).collect();
            input.include_dummy_initdata = dummy;
            input.pcr_prefixes = tees;
            input.bank = bank;
            if let Ok((set, _)) = build(&input) {
                let keys: Vec<(String, String)> = set.values().iter().map(|rv| {
                    (rv.name.as_str()[4..].to_owned(), rv.name.as_str().to_owned())
                }).collect();
                let mut sorted = keys.clone();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(&keys, &sorted, "sorted by pcr then name, no repeated names");
                for rv in set.values() {
                    let values = rv.value.as_array().unwrap();
                    prop_assert!(!values.is_empty());
                    for v in values {
                        let s = v.as_str().unwrap();
                        prop_assert_eq!(s.len(), bank.digest_len() * 2);
                        prop_assert!(s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
                    }
                    let uniq: std::collections::BTreeSet<&str> =
                        values.iter().filter_map(|v| v.as_str()).collect();
                    prop_assert_eq!(uniq.len(), values.len());
                }
                let _ = set.transcript();
                for f in crate::Format::ALL {
                    let _ = crate::render(&set, f);
                    let _ = crate::render_configmap(&set, f, &crate::ConfigMapOptions::default());
                }
            }
        }
    }
}
