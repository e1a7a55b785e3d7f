//! Any bytes, zero-padded in front to whole pages: parsing the OVMF footer
//! table and its SEV/TDX metadata never panics, and a parsed image's launch
//! digests can be computed (or fail with an error) without panicking.
//! Parsing from the image's end finds what parsing the whole image finds,
//! or names the metadata before that end. RTMR0's readers (TD HOB, table
//! loader, variable store) take any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_launch::Firmware;
use rvkit_launch::snp::{SevHashes, VcpuParams, VmmType, firmware_hash, launch_digests};

fuzz_target!(|data: &[u8]| {
    let _ = rvkit_launch::rtmr0::check_variable_store(data);
    let _ = rvkit_launch::rtmr0::table_loader_allocations(data);
    let _ = rvkit_launch::rtmr0::measured_hob(data);
    let pad = (4096 - data.len() % 4096) % 4096;
    let mut image = vec![0u8; pad];
    image.extend_from_slice(data);
    let whole = Firmware::parse(&image);
    let end_len = image.len().min(4096 * (1 + usize::from(data.first().copied().unwrap_or(0) % 4)));
    let pages = vec![[0u8; 48]; image.len() / 4096];
    match Firmware::parse_end(&image[image.len() - end_len..], image.len(), pages) {
        Ok(end) => {
            let whole = whole.as_ref().expect("what parses from its end parses whole");
            assert_eq!(end.sev_sections(), whole.sev_sections());
            assert_eq!(end.tdvf_sections(), whole.tdvf_sections());
        }
        Err(rvkit_launch::Error::BeforeEnd { .. }) => {}
        Err(e) => assert_eq!(Some(&e), whole.as_ref().err()),
    }
    let Ok(fw) = whole else { return };
    let _ = rvkit_launch::rtmr0::td_hob(&fw, 2048);
    let files = rvkit_launch::rtmr0::Rtmr0Files {
        fw_cfg: [("etc/table-loader", data), ("etc/acpi/tables", data)].into(),
        td_hob: Some(data),
    };
    let _ = rvkit_launch::rtmr0::rtmr0_events(&fw, &files, 2048, Default::default());
    for s in fw.tdvf_sections() {
        assert!(s.gpa.is_multiple_of(4096) && s.mem_size.is_multiple_of(4096));
    }
    let base = firmware_hash(&fw, true);
    let params = VcpuParams { vmm: VmmType::Ec2, signature: 0xa10f10, guest_features: 1 };
    let hashes = SevHashes::new(b"kernel", None, Some("console=ttyS0"));
    let _ = launch_digests(&base, &fw, &params, 1..=2, &|_| None);
    let _ = launch_digests(&base, &fw, &params, 1..=2, &|_| Some(hashes.clone()));
});
