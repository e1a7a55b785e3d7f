//! UEFI variables as firmware measures them (*TCG PC Client Platform
//! Firmware Profile*, section 10.4.4, `UEFI_VARIABLE_DATA`), and the GUIDs
//! of the namespaces the measured variables live in (UEFI 2.10, sections
//! 3.3 and 32.6.1).

/// EFI_GLOBAL_VARIABLE, 8be4df61-93ca-11d2-aa0d-00e098032b8c, as EFI_GUID
/// bytes (the first three fields little-endian).
pub const EFI_GLOBAL_VARIABLE: [u8; 16] =
    [0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c];

/// EFI_IMAGE_SECURITY_DATABASE_GUID, d719b2cb-3d3a-4596-a3bc-dad00e67656f.
pub const EFI_IMAGE_SECURITY_DATABASE: [u8; 16] =
    [0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45, 0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f];

/// UEFI_VARIABLE_DATA: VariableName (the namespace GUID), UnicodeNameLength
/// and VariableDataLength (u64, characters and bytes), the name in UTF-16LE
/// without NUL, the data. An EV_EFI_VARIABLE_DRIVER_CONFIG event's digest
/// covers all of it.
pub fn variable_data(guid: &[u8; 16], name: &str, data: &[u8]) -> Vec<u8> {
    let name: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut out = guid.to_vec();
    out.extend_from_slice(&(name.len() as u64 / 2).to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&name);
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_data_lays_out_name_and_data_after_their_lengths() {
        let v = variable_data(&EFI_GLOBAL_VARIABLE, "PK", &[7]);
        assert_eq!(&v[..16], &EFI_GLOBAL_VARIABLE);
        assert_eq!(&v[16..32], &[2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&v[32..], b"P\0K\0\x07");
    }
}
