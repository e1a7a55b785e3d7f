//! A writer of crypto-agile logs for unit tests. The end-to-end tests check
//! the parser against logs of independent producers (OVMF, and a writer in
//! another language checked by `tpm2_eventlog`); this one only builds inputs.

use crate::HashAlg;

/// EFI_GLOBAL_VARIABLE, 8be4df61-93ca-11d2-aa0d-00e098032b8c, in its
/// on-disk (mixed-endian) layout.
pub(crate) const GLOBAL: [u8; 16] =
    [0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c];

pub(crate) struct LogBuilder {
    algs: Vec<HashAlg>,
    bytes: Vec<u8>,
}

impl LogBuilder {
    pub(crate) fn new(algs: &[HashAlg]) -> LogBuilder {
        let mut spec = Vec::new();
        spec.extend_from_slice(b"Spec ID Event03\0");
        spec.extend_from_slice(&0u32.to_le_bytes()); // platformClass
        spec.extend_from_slice(&[0, 2, 0, 2]); // minor, major, errata, uintnSize
        spec.extend_from_slice(&(algs.len() as u32).to_le_bytes());
        for a in algs {
            spec.extend_from_slice(&a.tpm_alg_id().to_le_bytes());
            spec.extend_from_slice(&(a.digest_len() as u16).to_le_bytes());
        }
        spec.push(0); // vendorInfoSize
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&[0; 20]);
        bytes.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&spec);
        LogBuilder { algs: algs.to_vec(), bytes }
    }

    /// An event whose digests are the hashes of its data.
    pub(crate) fn event(self, pcr: u32, event_type: u32, data: &[u8]) -> LogBuilder {
        let digests: Vec<Vec<u8>> = self.algs.iter().map(|a| a.hash(data).as_bytes().to_vec()).collect();
        self.event_digests(pcr, event_type, &digests, data)
    }

    /// An event with the given digests, one per bank in header order.
    pub(crate) fn event_digests(
        mut self,
        pcr: u32,
        event_type: u32,
        digests: &[Vec<u8>],
        data: &[u8],
    ) -> LogBuilder {
        self.bytes.extend_from_slice(&pcr.to_le_bytes());
        self.bytes.extend_from_slice(&event_type.to_le_bytes());
        self.bytes.extend_from_slice(&(digests.len() as u32).to_le_bytes());
        for (a, d) in self.algs.iter().zip(digests) {
            self.bytes.extend_from_slice(&a.tpm_alg_id().to_le_bytes());
            self.bytes.extend_from_slice(d);
        }
        self.bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(data);
        self
    }

    /// An EV_NO_ACTION StartupLocality event with zero digests.
    pub(crate) fn startup_locality(self, locality: u8) -> LogBuilder {
        let zeros: Vec<Vec<u8>> = self.algs.iter().map(|a| vec![0; a.digest_len()]).collect();
        let mut data = b"StartupLocality\0".to_vec();
        data.push(locality);
        self.event_digests(0, 3, &zeros, &data)
    }

    pub(crate) fn build(self) -> Vec<u8> {
        self.bytes
    }
}

/// UEFI_VARIABLE_DATA for `name` in namespace `guid`.
pub(crate) fn uefi_variable(guid: [u8; 16], name: &str, data: &[u8]) -> Vec<u8> {
    let name16: Vec<u16> = name.encode_utf16().collect();
    let mut out = guid.to_vec();
    out.extend_from_slice(&(name16.len() as u64).to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    for c in name16 {
        out.extend_from_slice(&c.to_le_bytes());
    }
    out.extend_from_slice(data);
    out
}
