//! The firmware's measurements into PCRs 4 and 7, for the one firmware
//! profile whose events are modelled: Debian 12's OVMF (ovmf 2022.11,
//! `OVMF_CODE_4M.fd` with its `OVMF_VARS_4M.fd`, secure boot off) on QEMU's
//! q35 machine with its default devices and the podvm disk, booting the UKI
//! as `EFI/BOOT/BOOTX64.EFI`.
//!
//! The events, from EDK II's `Tcg2Dxe` (`OnReadyToBoot`,
//! `MeasureAllSecureVariables`, `Tcg2MeasurePeImage`) and checked against
//! the event log of such a boot:
//!
//! - PCR 7: EV_EFI_VARIABLE_DRIVER_CONFIG for SecureBoot (one byte, 0),
//!   PK, KEK (EFI global variables), db and dbx (image security database),
//!   all empty, each measured as a `UEFI_VARIABLE_DATA`; then EV_SEPARATOR.
//!   With secure boot off no EV_EFI_VARIABLE_AUTHORITY follows.
//! - PCR 4: at the first boot attempt EV_EFI_ACTION "Calling EFI Application
//!   from Boot Option" and EV_SEPARATOR; the default boot order tries the
//!   machine's empty DVD drive first, so one more ready-to-boot follows with
//!   "Returning from EFI Application from Boot Option" and "Calling…"; then
//!   EV_EFI_BOOT_SERVICES_APPLICATION with the Authenticode digest of the UKI
//!   and, because systemd-stub before 258 starts the kernel with LoadImage()
//!   when secure boot is off, one with the Authenticode digest of `.linux`.

use rvkit_pcr::HashAlg;
use rvkit_pcr::uefi::{EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE, variable_data};
use rvkit_pe::PeFile;

use crate::{EV_SEPARATOR, Error, PredictedEvent, Uki, event};

/// EV_EFI_VARIABLE_DRIVER_CONFIG.
pub const EV_EFI_VARIABLE_DRIVER_CONFIG: u32 = 0x8000_0001;
/// EV_EFI_BOOT_SERVICES_APPLICATION.
pub const EV_EFI_BOOT_SERVICES_APPLICATION: u32 = 0x8000_0003;
/// EV_EFI_ACTION.
pub const EV_EFI_ACTION: u32 = 0x8000_0007;

const CALLING: &str = "Calling EFI Application from Boot Option";
const RETURNING: &str = "Returning from EFI Application from Boot Option";

/// A firmware whose measurements into PCRs 4 and 7 are modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Firmware {
    /// Debian 12's OVMF (ovmf 2022.11, `OVMF_CODE_4M.fd` with
    /// `OVMF_VARS_4M.fd`, secure boot off) on QEMU q35 with its default
    /// devices: one failed boot attempt (the empty DVD drive) before the disk.
    Ovmf,
}

impl Firmware {
    /// The profile's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Ovmf => "ovmf",
        }
    }
}

/// UEFI_IMAGE_LOAD_EVENT with what a prediction cannot know (where the image
/// is loaded, its device path) left zero: the digest does not cover it.
fn image_load_event(len: usize) -> Vec<u8> {
    let mut out = vec![0; 8];
    out.extend_from_slice(&(len as u64).to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    out
}

fn action(text: &str, algs: &[HashAlg]) -> PredictedEvent {
    event(4, EV_EFI_ACTION, text.into(), text.as_bytes().to_vec(), text.as_bytes(), algs)
}

fn application(description: String, pe: &PeFile<'_>, algs: &[HashAlg]) -> PredictedEvent {
    PredictedEvent {
        pcr: 4,
        event_type: EV_EFI_BOOT_SERVICES_APPLICATION,
        description,
        data: image_load_event(pe.data().len()),
        digests: algs.iter().map(|&a| pe.authenticode(a)).collect(),
    }
}

/// The firmware's events up to and including starting the UKI (PCRs 7 and 4).
pub(crate) fn until_uki(firmware: Firmware, uki: &Uki<'_>, algs: &[HashAlg]) -> Vec<PredictedEvent> {
    match firmware {
        Firmware::Ovmf => ovmf_until_uki(uki, algs),
    }
}

/// The firmware's measurement of the kernel image the stub starts (PCR 4).
pub(crate) fn kernel(firmware: Firmware, uki: &Uki<'_>, algs: &[HashAlg]) -> Result<PredictedEvent, Error> {
    match firmware {
        Firmware::Ovmf => {
            let linux = uki.pe().section(".linux").ok_or(Error::MissingSection(".linux"))?.loaded();
            let kernel = PeFile::parse(&linux).map_err(Error::LinuxPe)?;
            Ok(application("Authenticode of .linux, started by the stub".into(), &kernel, algs))
        }
    }
}

fn ovmf_until_uki(uki: &Uki<'_>, algs: &[HashAlg]) -> Vec<PredictedEvent> {
    let mut events = Vec::new();
    let variables: [(&[u8; 16], &str, &[u8]); 5] = [
        (&EFI_GLOBAL_VARIABLE, "SecureBoot", &[0]),
        (&EFI_GLOBAL_VARIABLE, "PK", &[]),
        (&EFI_GLOBAL_VARIABLE, "KEK", &[]),
        (&EFI_IMAGE_SECURITY_DATABASE, "db", &[]),
        (&EFI_IMAGE_SECURITY_DATABASE, "dbx", &[]),
    ];
    for (guid, name, value) in variables {
        let data = variable_data(guid, name, value);
        let description = format!("variable {name} ({} bytes)", value.len());
        events.push(event(7, EV_EFI_VARIABLE_DRIVER_CONFIG, description, data.clone(), &data, algs));
    }
    let sep = [0u8; 4];
    events.push(event(7, EV_SEPARATOR, "separator".into(), sep.to_vec(), &sep, algs));
    events.push(action(CALLING, algs));
    events.push(event(4, EV_SEPARATOR, "separator".into(), sep.to_vec(), &sep, algs));
    events.push(action(RETURNING, algs));
    events.push(action(CALLING, algs));
    events.push(application("Authenticode of the UKI".into(), uki.pe(), algs));
    events
}
