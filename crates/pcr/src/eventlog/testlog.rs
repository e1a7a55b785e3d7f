//! A writer of crypto-agile logs for unit tests. The end-to-end tests check
//! the parser against logs of independent producers (OVMF, and a writer in
//! another language checked by `tpm2_eventlog`); this one only builds inputs.

use crate::HashAlg;

pub(crate) use crate::uefi::EFI_GLOBAL_VARIABLE as GLOBAL;

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
    crate::uefi::variable_data(&guid, name, data)
}
