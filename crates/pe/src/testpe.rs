//! A writer of small PE32+ images for tests and examples of this and other
//! rvkit crates (not part of the API).
//!
//! The layout follows the PE/COFF specification: a 64-byte DOS header whose
//! `e_lfanew` is 0x40, the "PE\0\0" signature, the COFF header, a PE32+
//! optional header with 16 data directories, the section table, then each
//! section's raw data padded to `file_align`, then `trailing` bytes.

fn align(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Builds an image holding `sections` as (name, VirtualSize or 0 for the
/// data's length, data), with raw data padded to `file_align` (1 for none)
/// and `trailing` appended after the last section.
pub fn build(sections: &[(&str, u32, &[u8])], file_align: usize, trailing: &[u8]) -> Vec<u8> {
    let opt_len = 112 + 16 * 8;
    let table = 0x40 + 4 + 20 + opt_len;
    let headers = align(table + 40 * sections.len(), file_align);
    let mut out = vec![0u8; headers];
    out[..2].copy_from_slice(b"MZ");
    out[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    out[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    out[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
    out[coff + 2..coff + 4].copy_from_slice(&(sections.len() as u16).to_le_bytes());
    out[coff + 16..coff + 18].copy_from_slice(&(opt_len as u16).to_le_bytes());
    out[coff + 18..coff + 20].copy_from_slice(&0x0206u16.to_le_bytes());
    let opt = coff + 20;
    let put32 = |out: &mut Vec<u8>, at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    out[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    put32(&mut out, opt + 32, 0x1000); // SectionAlignment
    put32(&mut out, opt + 36, file_align as u32); // FileAlignment
    put32(&mut out, opt + 60, headers as u32); // SizeOfHeaders
    put32(&mut out, opt + 64, 0x1234_5678); // CheckSum, which Authenticode skips
    out[opt + 68..opt + 70].copy_from_slice(&10u16.to_le_bytes()); // EFI application
    put32(&mut out, opt + 108, 16); // NumberOfRvaAndSizes

    let mut rva = 0x1000usize;
    for (i, (name, virtual_size, data)) in sections.iter().enumerate() {
        let h = table + 40 * i;
        let raw_offset = out.len();
        let raw_len = align(data.len(), file_align);
        let vsize = if *virtual_size == 0 { data.len() } else { *virtual_size as usize };
        out[h..h + name.len()].copy_from_slice(name.as_bytes());
        put32(&mut out, h + 8, vsize as u32);
        put32(&mut out, h + 12, rva as u32);
        put32(&mut out, h + 16, raw_len as u32);
        put32(&mut out, h + 20, if raw_len == 0 { 0 } else { raw_offset as u32 });
        put32(&mut out, h + 36, 0x4000_0040); // initialised data, readable
        out.extend_from_slice(data);
        out.resize(raw_offset + raw_len, 0);
        rva = align(rva + vsize.max(raw_len), 0x1000);
    }
    put32(&mut out, opt + 56, rva as u32); // SizeOfImage
    out.extend_from_slice(trailing);
    out
}
