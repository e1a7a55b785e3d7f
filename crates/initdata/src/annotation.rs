//! The pod annotation that carries an initdata document: standard base64 (with
//! padding) of the gzip-compressed document.
//!
//! The same encoding is used by the peer-pods ConfigMap key `INITDATA`. The
//! Kata runtime decodes it with Go's `encoding/base64` (standard alphabet,
//! padding required) feeding `compress/gzip`, whose reader is multistream by
//! default: every gzip member is read and the outputs are concatenated
//! (kata-containers `src/runtime/pkg/oci/utils.go`,
//! `addHypervisorInitdataOverrides`). [`decode`] follows it, with two
//! deliberate differences: any ASCII whitespace is tolerated (Go ignores only
//! CR and LF), and the output is capped so a gzip bomb cannot exhaust memory.
//!
//! ```
//! use rvkit_initdata::annotation::{DecodeOptions, decode, encode};
//!
//! let text = encode(b"version = \"0.1.0\"\n");
//! let decoded = decode(text.as_bytes(), &DecodeOptions::default())?;
//! assert_eq!(decoded.bytes, b"version = \"0.1.0\"\n");
//! assert_eq!(decoded.gzip_members, 1);
//! # Ok::<(), rvkit_initdata::Error>(())
//! ```

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use flate2::{Compression, GzBuilder};

use crate::Error;

/// The pod annotation key Kata reads the initdata document from.
pub const ANNOTATION_KEY: &str = "io.katacontainers.config.hypervisor.cc_init_data";

/// The default cap on the decoded document: 256 KiB, the Kubernetes limit on
/// the total size of an object's annotations.
pub const DEFAULT_MAX_DECODED: usize = 256 * 1024;

/// The Kubernetes limit on the total size of all annotations of an object,
/// keys and values: 256 KiB (`TotalAnnotationSizeLimitB` in
/// k8s.io/apimachinery `pkg/api/validation/objectmeta.go`). An encoded
/// annotation longer than this cannot be set on a pod.
pub const ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// A warning when the encoded annotation `text` is longer than
/// [`ANNOTATION_SIZE_LIMIT`], naming its size.
pub fn size_warning(text: &str) -> Option<String> {
    (text.len() > ANNOTATION_SIZE_LIMIT).then(|| {
        format!(
            "the annotation is {} bytes; Kubernetes allows {} KiB for all annotations of a pod",
            text.len(),
            ANNOTATION_SIZE_LIMIT / 1024
        )
    })
}

/// The OS byte GNU gzip writes on Unix; fixed so output does not depend on
/// the machine.
const OS_UNIX: u8 = 3;

/// How much decompressed output is produced per step while decoding.
const CHUNK: usize = 16 * 1024;

/// Standard alphabet; padding required and canonical, no stray trailing bits.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(false),
);

/// Encodes `raw` for the annotation: gzip at the default level with a fixed
/// header (mtime 0, no file name, XFL for the level, OS byte 3), then
/// standard base64 with padding and no line breaks.
///
/// Equal input gives equal output. The compressed bytes are not those of GNU
/// gzip (another deflate implementation), but any gzip reader returns `raw`.
pub fn encode(raw: &[u8]) -> String {
    let mut gz = GzBuilder::new()
        .mtime(0)
        .operating_system(OS_UNIX)
        .write(Vec::with_capacity(raw.len() / 2 + 64), Compression::default());
    // Writing into a Vec cannot fail, so neither can the encoder.
    let compressed = gz
        .write_all(raw)
        .and_then(|()| gz.finish())
        .unwrap_or_else(|e| unreachable!("gzip into memory failed: {e}"));
    STRICT.encode(compressed)
}

/// Limits for [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The largest decompressed document accepted, in bytes.
    pub max_decoded: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { max_decoded: DEFAULT_MAX_DECODED }
    }
}

impl DecodeOptions {
    /// The longest base64 text (whitespace not counted) accepted.
    ///
    /// Deflate never expands data by more than a few bytes per 64 KiB block,
    /// so a compressed document within the cap is at most slightly larger than
    /// the cap; an eighth more plus 64 KiB for gzip headers (file names,
    /// comments, extra fields) and extra members leaves a wide margin while
    /// still refusing absurd inputs before any decoding work.
    pub fn max_text_len(&self) -> usize {
        let max_gzip = self.max_decoded.saturating_add(self.max_decoded / 8).saturating_add(64 * 1024);
        (max_gzip / 3).saturating_add(1).saturating_mul(4)
    }
}

/// A decoded annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The document bytes (all gzip members, concatenated).
    pub bytes: Vec<u8>,
    /// How many gzip members there were. Encoders write one; more than one is
    /// legal but unusual, and callers should warn about it.
    pub gzip_members: usize,
}

impl Decoded {
    /// A warning when the annotation holds more than one gzip member.
    pub fn warning(&self) -> Option<String> {
        (self.gzip_members > 1).then(|| {
            format!(
                "the annotation holds {} concatenated gzip members; the kata runtime reads them all as one document",
                self.gzip_members
            )
        })
    }
}

/// Decodes an annotation value into the document bytes.
///
/// ASCII whitespace anywhere is ignored. The rest must be standard base64
/// with canonical padding. Every gzip member is decompressed in turn; bytes
/// after a member that do not start another member are an error, as they are
/// for the Kata runtime. Decompression stops as soon as the output would
/// exceed `opts.max_decoded`; the output buffer never grows beyond that cap,
/// and the text is refused before any decoding when it is longer than
/// [`DecodeOptions::max_text_len`] allows.
pub fn decode(text: &[u8], opts: &DecodeOptions) -> Result<Decoded, Error> {
    let max_text = opts.max_text_len();
    // Allowing as much whitespace again as text keeps wrapped input working
    // while refusing absurd input before copying any of it.
    if text.len() > max_text.saturating_mul(2) {
        return Err(Error::AnnotationTooLong { len: text.len(), max: max_text });
    }
    let compact: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.len() > max_text {
        return Err(Error::AnnotationTooLong { len: compact.len(), max: max_text });
    }
    if compact.is_empty() {
        return Err(Error::EmptyAnnotation);
    }
    let gzip = STRICT.decode(&compact).map_err(|e| Error::InvalidBase64 { reason: base64_reason(&e) })?;

    let mut out = Vec::new();
    let mut rest: &[u8] = &gzip;
    let mut members = 0;
    loop {
        members += 1;
        let mut member = flate2::bufread::GzDecoder::new(rest);
        read_capped(&mut member, &mut out, opts.max_decoded, members)?;
        rest = member.into_inner();
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with(&[0x1f, 0x8b]) {
            return Err(Error::TrailingGarbage { member: members, len: rest.len() });
        }
    }
    Ok(Decoded { bytes: out, gzip_members: members })
}

/// Reads one gzip member to its end into `out`, failing as soon as `out`
/// would grow past `max`. The buffer grows geometrically but never beyond
/// `max`, so memory stays within the cap plus one chunk.
fn read_capped(member: &mut impl Read, out: &mut Vec<u8>, max: usize, member_no: usize) -> Result<(), Error> {
    let mut chunk = [0u8; CHUNK];
    loop {
        let n = match member.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Gzip { member: member_no, reason: e.to_string() });
            }
        };
        if n > max - out.len() {
            return Err(Error::DecodedTooLarge { max });
        }
        let needed = out.len() + n;
        if needed > out.capacity() {
            let target = needed.max(out.capacity().saturating_mul(2)).min(max);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

fn base64_reason(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(offset, byte) => {
            format!("invalid character {:?} at offset {offset} (whitespace not counted)", char::from(*byte))
        }
        base64::DecodeError::InvalidLength(len) => {
            format!("length {len} is not a multiple of 4 (padding missing?)")
        }
        base64::DecodeError::InvalidLastSymbol(offset, byte) => format!(
            "last symbol {:?} at offset {offset} has bits set that are not part of the data",
            char::from(*byte)
        ),
        base64::DecodeError::InvalidPadding => "padding is missing or wrong".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn gzip_member(data: &[u8], level: u32) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::new(level));
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn opts(max: usize) -> DecodeOptions {
        DecodeOptions { max_decoded: max }
    }

    #[test]
    fn encode_has_a_fixed_header() {
        let text = encode(b"abc");
        let gz = STRICT.decode(&text).unwrap();
        // ID1 ID2 CM FLG MTIME(4) XFL OS (RFC 1952, section 2.3).
        assert_eq!(gz[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(text, encode(b"abc"));
        assert!(!text.contains('\n'));
        assert!(text.ends_with('='));
    }

    #[test]
    fn reads_every_member_like_go() {
        // `cat a.gz b.gz` is a valid gzip file whose content is a then b.
        let mut gz = gzip_member(b"first\n", 6);
        gz.extend(gzip_member(b"second\n", 1));
        gz.extend(gzip_member(b"", 9));
        let d = decode(STRICT.encode(&gz).as_bytes(), &opts(100)).unwrap();
        assert_eq!(d.bytes, b"first\nsecond\n");
        assert_eq!(d.gzip_members, 3);
        assert_eq!(
            d.warning().as_deref(),
            Some(
                "the annotation holds 3 concatenated gzip members; the kata runtime reads them all as one document"
            )
        );
        assert_eq!(decode(encode(b"x").as_bytes(), &opts(100)).unwrap().warning(), None);
    }

    #[test]
    fn warns_about_annotations_kubernetes_refuses() {
        assert_eq!(size_warning(&"a".repeat(ANNOTATION_SIZE_LIMIT)), None);
        assert_eq!(
            size_warning(&"a".repeat(ANNOTATION_SIZE_LIMIT + 1)).as_deref(),
            Some("the annotation is 262145 bytes; Kubernetes allows 256 KiB for all annotations of a pod")
        );
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut gz = gzip_member(b"doc", 6);
        gz.extend_from_slice(b"\0\0\0");
        assert_eq!(
            decode(STRICT.encode(&gz).as_bytes(), &opts(100)),
            Err(Error::TrailingGarbage { member: 1, len: 3 })
        );
        // A second member that is cut short is a gzip error in member 2.
        let mut gz = gzip_member(b"doc", 6);
        gz.extend_from_slice(&gzip_member(b"more", 6)[..12]);
        assert!(matches!(
            decode(STRICT.encode(&gz).as_bytes(), &opts(100)),
            Err(Error::Gzip { member: 2, .. })
        ));
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let not_gzip = STRICT.encode(b"plain text, not gzip");
        assert!(matches!(decode(not_gzip.as_bytes(), &opts(100)), Err(Error::Gzip { member: 1, .. })));
        let mut gz = gzip_member(b"checked by crc32", 6);
        let n = gz.len();
        gz[n - 8] ^= 1;
        assert!(matches!(
            decode(STRICT.encode(&gz).as_bytes(), &opts(100)),
            Err(Error::Gzip { member: 1, .. })
        ));
        let gz = gzip_member(b"truncated", 6);
        assert!(matches!(
            decode(STRICT.encode(&gz[..gz.len() - 3]).as_bytes(), &opts(100)),
            Err(Error::Gzip { member: 1, .. })
        ));
    }

    #[test]
    fn whitespace_is_tolerated_anywhere() {
        let text = encode(b"hello");
        let spaced: String =
            text.chars().flat_map(|c| [c, [' ', '\n', '\t', '\r'][c as usize % 4]]).collect();
        let d = decode(format!("\n {spaced}\r\n").as_bytes(), &opts(100)).unwrap();
        assert_eq!(d.bytes, b"hello");
    }

    #[test]
    fn invalid_base64_is_an_error() {
        let cases = [
            "QUI",     // padding missing ("AB" is "QUI=")
            "QUI=\n=", // too much padding
            "QQ=A",    // padding in the middle
            "-_8=",    // URL-safe alphabet
            "QU*=",    // a stray symbol
            "QR==",    // bits set after the last byte
        ];
        for case in cases {
            assert!(
                matches!(decode(case.as_bytes(), &opts(100)), Err(Error::InvalidBase64 { .. })),
                "{case:?}: {:?}",
                decode(case.as_bytes(), &opts(100))
            );
        }
        let Err(Error::InvalidBase64 { reason }) = decode(b"H4sI *AAA", &opts(100)) else {
            panic!("expected invalid base64");
        };
        assert!(reason.contains("offset 4"), "{reason}");
        assert_eq!(decode(b" \n", &opts(100)), Err(Error::EmptyAnnotation));
    }

    #[test]
    fn overlong_text_is_refused_before_decoding() {
        let o = opts(1024);
        let text = vec![b'A'; o.max_text_len() + 4];
        assert!(matches!(decode(&text, &o), Err(Error::AnnotationTooLong { .. })));
        let text = vec![b' '; o.max_text_len() * 2 + 1];
        assert!(matches!(decode(&text, &o), Err(Error::AnnotationTooLong { .. })));
    }

    #[test]
    fn cap_is_inclusive() {
        let doc = vec![b'x'; 1000];
        let text = encode(&doc);
        assert_eq!(decode(text.as_bytes(), &opts(1000)).unwrap().bytes, doc);
        assert_eq!(decode(text.as_bytes(), &opts(999)), Err(Error::DecodedTooLarge { max: 999 }));
        // The cap covers all members together.
        let mut gz = gzip_member(&doc[..600], 6);
        gz.extend(gzip_member(&doc[..600], 6));
        assert_eq!(
            decode(STRICT.encode(&gz).as_bytes(), &opts(1000)),
            Err(Error::DecodedTooLarge { max: 1000 })
        );
    }

    #[test]
    fn read_capped_stops_at_the_cap() {
        // Four times the cap of zeros: reading stops without growing the
        // buffer past the cap. (GNU gzip's 100 MiB bomb is in tests/it.)
        let gzip = gzip_member(&vec![0; 4 * DEFAULT_MAX_DECODED], 1);
        let mut member = flate2::bufread::GzDecoder::new(&gzip[..]);
        let mut out = Vec::new();
        let r = read_capped(&mut member, &mut out, DEFAULT_MAX_DECODED, 1);
        assert_eq!(r, Err(Error::DecodedTooLarge { max: DEFAULT_MAX_DECODED }));
        assert!(out.capacity() <= DEFAULT_MAX_DECODED, "{}", out.capacity());
        assert!(out.len() > DEFAULT_MAX_DECODED - CHUNK);
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let d = decode(encode(&raw).as_bytes(), &DecodeOptions::default()).unwrap();
            prop_assert_eq!(d.bytes, raw);
            prop_assert_eq!(d.gzip_members, 1);
        }

        #[test]
        fn decode_never_panics(text in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&text, &opts(4096));
        }

        #[test]
        fn decode_never_panics_on_base64(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(STRICT.encode(&raw).as_bytes(), &opts(4096));
        }
    }
}
