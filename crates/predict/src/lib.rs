//! Predict the PCRs a unified kernel image (UKI) boots to, without booting it.
//!
//! A podvm boots its UKI straight from the EFI system partition. The
//! measurements that do not depend on the firmware are:
//!
//! - **PCR 3**: the firmware's EV_SEPARATOR (four zero bytes), nothing else;
//! - **PCR 11**: systemd-stub's, for each UKI section present in systemd's
//!   canonical order (`unified_sections`), an EV_IPL event over the section
//!   name with its NUL and one over the section's `VirtualSize` bytes; stubs
//!   252 and 253 measure .linux .osrel .cmdline .initrd .splash .dtb
//!   .pcrpkey, 254 and 255 also .uname .sbat, 256 also .ucode, 257 also
//!   .profile .dtbauto .hwids;
//! - **PCR 9**: the Linux EFI stub's two EV_EVENT_TAG events, the command
//!   line it was handed (UTF-16LE with its NUL, after systemd-stub's
//!   whitespace clean-up, `mangle_stub_cmdline`) and the initrd it loaded:
//!   `.ucode` (256 on), `.initrd`, the credential archives, and the archives
//!   the stub generates for `.pcrsig`, `.pcrpkey` and (257 on) `.osrel`
//!   (`/.extra/...`, newc format as systemd's `cpio.c` writes it), in the
//!   order of `stub.c`'s combine call; when there is more than `.initrd`
//!   (from 257 on: more than one part) each part is padded to 4 bytes;
//! - **PCR 12**: zero without ESP extras; stubs 253 on measure the archive
//!   of the UKI's credentials (`<uki>.extra.d/*.cred`, "Credentials
//!   initrd") and then that of the global ones (`loader/credentials/*.cred`,
//!   "Global credentials initrd"), names sorted ([`EspExtras`],
//!   [`Extra::of`]). Extensions and add-ons, stub 252's credentials (which
//!   it also measures into PCR 8 when so built) and stub 257's `.profile`
//!   (multi-profile UKIs) are refused, not guessed.
//!
//! Stubs before 252 and from 258 on are refused ([`Error::UnmodelledStub`]):
//! 258 loads global extensions from `loader/extensions` and knows `.efifw`
//! firmware sections, and 261 adds a per-machine boot secret to the initrd
//! and a `console=` for the firmware's serial console to the command line,
//! which no disk image can predict.
//!
//! Beyond those, [`predict_with`] adds on request:
//!
//! - **PCRs 4 and 7** for one firmware profile only ([`Firmware::Ovmf`]:
//!   Debian 12's OVMF, secure boot off, on QEMU q35): the secure-boot
//!   variables and separator, the boot-option actions, and the Authenticode
//!   digests of the UKI and of the `.linux` image the stub starts. Other
//!   firmware (Azure's, another OVMF build or boot order) measures other
//!   values;
//! - **PCR 8**: the initdata digest a podvm extends the SHA-256 bank with.
//!
//! The sources are systemd's `docs/TPM2_PCR_MEASUREMENTS.md`, the stub code
//! named above and EDK II's `Tcg2Dxe`; the values were checked by booting
//! (see the project's ground-truth notes and the boot test).
//!
//! The result is a list of events, one digest per bank, that
//! [`Prediction::event_log`] turns into a crypto-agile TCG log, so rvkit-pcr
//! replays, transcribes and compares it exactly as a booted VM's log.
//!
//! ```
//! use rvkit_pcr::HashAlg;
//! use rvkit_predict::{EspExtras, Uki, predict};
//!
//! # let bytes = rvkit_pe::testpe::build(&[
//! #     (".sdmagic", 0, b"#### LoaderInfo: systemd-stub 257.13-1 ####\0"),
//! #     (".linux", 0, b"kernel"), (".cmdline", 0, b"console=ttyS0")], 0x200, b"");
//! let uki = Uki::parse(&bytes)?;
//! let prediction = predict(&uki, &EspExtras::default(), &[HashAlg::Sha256])?;
//! let values = prediction.values(&[HashAlg::Sha256], &[3]);
//! assert_eq!(values[0].2.to_hex(), "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969");
//! # Ok::<(), rvkit_predict::Error>(())
//! ```
#![warn(missing_docs)]

mod cpio;
mod error;
mod firmware;
mod report;

use rvkit_pcr::eventlog::EventLog;
use rvkit_pcr::{Digest, HashAlg};
use rvkit_pe::PeFile;

pub use error::Error;
pub use firmware::Firmware;
pub use report::{BootedEvent, CheckReport, PcrCheck, PcrValue, PredictionReport, check};

/// EV_SEPARATOR (PC Client Platform Firmware Profile, table 9).
pub const EV_SEPARATOR: u32 = 0x0000_0004;
/// EV_EVENT_TAG.
pub const EV_EVENT_TAG: u32 = 0x0000_0006;
/// EV_IPL.
pub const EV_IPL: u32 = 0x0000_000D;

/// The Linux EFI stub's tagged-event identifiers (Linux
/// `drivers/firmware/efi/libstub`): the initrd and the load options.
const INITRD_EVENT_TAG_ID: u32 = 0x8F3B_22EC;
const LOAD_OPTIONS_EVENT_TAG_ID: u32 = 0x8F3B_22ED;

/// Sections systemd-stub 252 and 253 measure, in their order (`unified_sections` of
/// `src/fundamental/tpm-pcr.c`; .pcrsig is never measured).
const SECTIONS_252: &[&str] = &[".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey"];
/// Stubs 254 and 255 also measure .uname and .sbat.
const SECTIONS_254: &[&str] =
    &[".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey"];
/// Stub 256 also measures .ucode (`src/fundamental/uki.c` from then on).
const SECTIONS_256: &[&str] =
    &[".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey"];
/// Stub 257 also measures .profile, .dtbauto and .hwids.
const SECTIONS_257: &[&str] = &[
    ".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey",
    ".profile", ".dtbauto", ".hwids",
];

/// The oldest and newest systemd-stub whose measurements are modelled.
const FIRST_MODELLED: u32 = 252;
const LAST_MODELLED: u32 = 257;

/// How far a measured section's `VirtualSize` may exceed its raw data.
const ZERO_FILL_LIMIT: u64 = 64 * 1024;

/// A systemd-stub release whose measurements are modelled, by its major
/// version; what each measures is read from its `src/boot/efi/stub.c` (from
/// 256 on `src/boot/stub.c`) and `cpio.c` at the release tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stub(u32);

impl Stub {
    /// The sections measured into PCR 11, in order.
    fn sections(self) -> &'static [&'static str] {
        match self.0 {
            ..=253 => SECTIONS_252,
            254 | 255 => SECTIONS_254,
            256 => SECTIONS_256,
            _ => SECTIONS_257,
        }
    }

    /// Whether `.ucode` is handed to the kernel ahead of `.initrd` (256 on).
    fn loads_ucode(self) -> bool {
        self.0 >= 256
    }

    /// Whether the `.osrel` section goes to the initrd as `/.extra/os-release` (257 on).
    fn passes_osrel(self) -> bool {
        self.0 >= 257
    }

    /// Whether credentials go to PCR 12 alone. Stub 252 also measured
    /// them into PCR 8 when built with `-Defi-tpm-pcr-compat`, which the
    /// UKI does not tell; 253 dropped that.
    fn models_credentials(self) -> bool {
        self.0 >= 253
    }

    /// Whether the initrd parts are concatenated, each padded to 4 bytes,
    /// given how many there are and whether `.initrd` is one of them. Up to
    /// 256 the stub combines whenever there is a part beside `.initrd`
    /// (a lone `.ucode` included); from 257 on when there are two or more.
    fn combines(self, parts: usize, has_initrd: bool) -> bool {
        if self.0 >= 257 { parts > 1 } else { parts > usize::from(has_initrd) }
    }
}

/// A UKI, parsed, with its stub's version.
#[derive(Debug)]
pub struct Uki<'a> {
    pe: PeFile<'a>,
    version: String,
    stub: Stub,
}

impl<'a> Uki<'a> {
    /// Parses a UKI and reads its stub's version from `.sdmagic`
    /// ("#### LoaderInfo: systemd-stub 257.13-1 ####").
    pub fn parse(bytes: &'a [u8]) -> Result<Uki<'a>, Error> {
        let pe = PeFile::parse(bytes)?;
        if pe.section(".linux").is_none() {
            return Err(Error::MissingSection(".linux"));
        }
        // The magic string ends at its NUL; read from the file, never zero-filled.
        let raw = pe.section(".sdmagic").ok_or(Error::MissingSection(".sdmagic"))?.raw_data();
        let magic = String::from_utf8_lossy(&raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())])
            .into_owned();
        let version = magic
            .strip_prefix("#### LoaderInfo: systemd-stub ")
            .and_then(|r| r.strip_suffix(" ####"))
            .ok_or_else(|| Error::NoStubVersion(magic.clone()))?
            .to_owned();
        let major: Option<u32> = version.split(['.', '-', '~', '+']).next().and_then(|m| m.parse().ok());
        let stub = match major {
            Some(m @ FIRST_MODELLED..=LAST_MODELLED) => Stub(m),
            _ => return Err(Error::UnmodelledStub { version }),
        };
        // A measured or passed-on section is read whole; one whose size in
        // memory goes past its bytes in the file by more than the file
        // alignment is refused rather than filled with gigabytes of zeros.
        for section in pe.sections() {
            let name = section.name();
            let read = SECTIONS_257.contains(&name.as_ref()) || name == ".pcrsig";
            if read && u64::from(section.virtual_size()) > section.raw_data().len() as u64 + ZERO_FILL_LIMIT {
                return Err(Error::Unmodelled(format!(
                    "the UKI's {name} section of {} bytes in memory but {} in the file",
                    section.virtual_size(),
                    section.raw_data().len()
                )));
            }
        }
        Ok(Uki { pe, version, stub })
    }

    /// The stub's version string from `.sdmagic`.
    pub fn stub_version(&self) -> &str {
        &self.version
    }

    /// The parsed PE image.
    pub fn pe(&self) -> &PeFile<'a> {
        &self.pe
    }

    fn loaded(&self, name: &str) -> Option<Vec<u8>> {
        self.pe.section(name).map(|s| s.loaded().into_owned())
    }
}

/// One predicted measurement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PredictedEvent {
    /// The PCR extended.
    pub pcr: u32,
    /// The event type (EV_SEPARATOR, EV_IPL, EV_EVENT_TAG).
    #[serde(serialize_with = "event_type_name")]
    pub event_type: u32,
    /// What was measured, for people.
    pub description: String,
    /// The event data as the log records it.
    #[serde(skip)]
    pub data: Vec<u8>,
    /// The digest extended, one per bank.
    #[serde(serialize_with = "digests_by_bank")]
    pub digests: Vec<Digest>,
}

fn event_type_name<S: serde::Serializer>(t: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rvkit_pcr::eventlog::EventType(*t).name().unwrap_or("unknown"))
}

fn digests_by_bank<S: serde::Serializer>(d: &[Digest], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(d.len()))?;
    for d in d {
        m.serialize_entry(d.alg().name(), &d.to_hex())?;
    }
    m.end()
}

/// The predicted events of one boot, in the order they happen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Prediction {
    /// The systemd-stub version the prediction modelled.
    pub stub_version: String,
    /// The banks every event carries a digest for.
    #[serde(skip)]
    pub algs: Vec<HashAlg>,
    /// The events.
    pub events: Vec<PredictedEvent>,
}

/// What the EFI system partition holds beside the UKI that systemd-stub
/// loads and measures; build it with [`EspExtras::add`].
#[derive(Debug, Clone, Default)]
pub struct EspExtras {
    /// Paths (relative to the ESP root) of extras whose measurement is not
    /// modelled (system and configuration extensions, add-ons): a
    /// prediction is refused while there are any.
    pub files: Vec<String>,
    /// The UKI's own credentials, `<uki>.extra.d/*.cred`: name and bytes.
    pub credentials: Vec<(String, Vec<u8>)>,
    /// The global credentials, `loader/credentials/*.cred`: name and bytes.
    pub global_credentials: Vec<(String, Vec<u8>)>,
}

/// A directory of the ESP systemd-stub reads extras from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraDir {
    /// `<uki>.extra.d/` beside the UKI: credentials, extensions, add-ons.
    Uki,
    /// `loader/credentials/`: global credentials.
    Credentials,
    /// `loader/addons/`: global add-ons.
    Addons,
}

impl ExtraDir {
    /// Every such directory.
    pub const ALL: [ExtraDir; 3] = [ExtraDir::Uki, ExtraDir::Credentials, ExtraDir::Addons];

    /// The directory's path relative to the ESP root for the UKI at `uki_path`.
    pub fn path(self, uki_path: &str) -> String {
        match self {
            ExtraDir::Uki => format!("{uki_path}.extra.d"),
            ExtraDir::Credentials => "loader/credentials".into(),
            ExtraDir::Addons => "loader/addons".into(),
        }
    }
}

/// What systemd-stub 257 does with a file of an extras directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// A credential of the UKI (`.cred` in `<uki>.extra.d/`).
    Credential,
    /// A global credential (`.cred` in `loader/credentials/`).
    GlobalCredential,
    /// A system or configuration extension or an add-on: loaded and
    /// measured, but not modelled here.
    Unmodelled,
}

/// Ends with `suffix`, ASCII case aside (the stub's `endswith_no_case`).
fn ends_with_no_case(name: &str, suffix: &str) -> bool {
    name.len() >= suffix.len()
        && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

impl Extra {
    /// What the stub makes of file `name` in `dir`, or `None` when it skips
    /// it (systemd `src/boot/efi/stub.c` `generate_sidecar_initrds`,
    /// `load_addons` and `cpio.c` `pack_cpio`: names starting with a dot,
    /// not ASCII or longer than 255 characters are skipped, suffixes match
    /// without regard to case).
    pub fn of(dir: ExtraDir, name: &str) -> Option<Extra> {
        if name.starts_with('.') || !name.is_ascii() || name.len() > 255 {
            return None;
        }
        let addon = ends_with_no_case(name, ".addon.efi");
        match dir {
            ExtraDir::Uki if ends_with_no_case(name, ".cred") => Some(Extra::Credential),
            ExtraDir::Uki if addon || ends_with_no_case(name, ".raw") => Some(Extra::Unmodelled),
            ExtraDir::Credentials if ends_with_no_case(name, ".cred") => Some(Extra::GlobalCredential),
            ExtraDir::Addons if addon => Some(Extra::Unmodelled),
            _ => None,
        }
    }
}

impl EspExtras {
    /// Records file `name` of `dir` for the UKI at `uki_path`, reading its
    /// bytes with `read` only when the stub would measure them; files the
    /// stub skips are left out.
    pub fn add<E>(
        &mut self,
        dir: ExtraDir,
        uki_path: &str,
        name: &str,
        read: impl FnOnce(&str) -> Result<Vec<u8>, E>,
    ) -> Result<(), E> {
        let path = format!("{}/{name}", dir.path(uki_path));
        match Extra::of(dir, name) {
            None => {}
            Some(Extra::Unmodelled) => self.files.push(path),
            Some(Extra::Credential) => self.credentials.push((name.to_owned(), read(&path)?)),
            Some(Extra::GlobalCredential) => self.global_credentials.push((name.to_owned(), read(&path)?)),
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.credentials.is_empty() && self.global_credentials.is_empty()
    }
}

/// What a prediction covers beyond PCRs 3, 9, 11 and 12.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The firmware profile whose PCR 4 and 7 events to predict.
    pub firmware: Option<Firmware>,
    /// The SHA-256 digest a podvm extends PCR 8 with for its initdata (as
    /// `rvkit_initdata::pcr8_from_digest` fits it): the podvm extends the
    /// SHA-256 bank only, so PCR 8 stays zero in the others.
    pub initdata: Option<Digest>,
}

fn event(
    pcr: u32,
    event_type: u32,
    description: String,
    data: Vec<u8>,
    measured: &[u8],
    algs: &[HashAlg],
) -> PredictedEvent {
    PredictedEvent {
        pcr,
        event_type,
        description,
        data,
        digests: algs.iter().map(|a| a.hash(measured)).collect(),
    }
}

/// UTF-16LE of `s` with a terminating NUL, as EFI strings are.
fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
}

/// systemd-stub's `mangle_stub_cmdline`: leading whitespace (control
/// characters, space and DEL) dropped, inner whitespace turned into spaces,
/// trailing whitespace cut.
fn mangle_cmdline(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let text = String::from_utf8_lossy(&raw[..end]);
    let white = |c: char| c <= ' ' || c == '\x7f';
    text.trim_matches(white).chars().map(|c| if white(c) { ' ' } else { c }).collect()
}

/// A Linux EFI stub tagged event's data: TCG_PCClientTaggedEvent with the
/// description string and its NUL.
fn tagged(id: u32, description: &str) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&id.to_le_bytes());
    d.extend_from_slice(&(description.len() as u32 + 1).to_le_bytes());
    d.extend_from_slice(description.as_bytes());
    d.push(0);
    d
}

/// Predicts the events of PCRs 3, 9, 11 and 12 for booting `uki` straight
/// from an ESP holding `extras`, in the banks `algs`.
pub fn predict(uki: &Uki<'_>, extras: &EspExtras, algs: &[HashAlg]) -> Result<Prediction, Error> {
    predict_with(uki, extras, algs, &Options::default())
}

/// The PCRs a prediction with `options` covers.
pub fn predicted_pcrs(options: &Options) -> Vec<u32> {
    let mut pcrs = vec![3, 9, 11, 12];
    if options.firmware.is_some() {
        pcrs.extend([4, 7]);
    }
    if options.initdata.is_some() {
        pcrs.push(8);
    }
    pcrs.sort_unstable();
    pcrs
}

/// Like [`predict`], with the firmware's PCRs 4 and 7 and the initdata's
/// PCR 8 when `options` asks for them.
pub fn predict_with(
    uki: &Uki<'_>,
    extras: &EspExtras,
    algs: &[HashAlg],
    options: &Options,
) -> Result<Prediction, Error> {
    if let Some(f) = extras.files.first() {
        return Err(Error::Unmodelled(format!("ESP extra {f} (extensions and add-ons)")));
    }
    if !uki.stub.models_credentials() && !extras.is_empty() {
        let (name, _) =
            extras.credentials.iter().chain(&extras.global_credentials).next().expect("not empty");
        return Err(Error::Unmodelled(format!(
            "credential {name} with systemd-stub {} (stub 252 may also measure it into PCR 8, as it was built)",
            uki.version
        )));
    }
    if uki.stub.sections().contains(&".profile") && uki.pe.section(".profile").is_some() {
        return Err(Error::Unmodelled(format!(
            "the UKI's .profile section with systemd-stub {}",
            uki.version
        )));
    }
    let mut events = Vec::new();
    if let Some(firmware) = options.firmware {
        events.extend(firmware::until_uki(firmware, uki, algs));
    }
    let sep = [0u8; 4];
    events.push(event(3, EV_SEPARATOR, "separator".into(), sep.to_vec(), &sep, algs));

    for name in uki.stub.sections() {
        let Some(section) = uki.pe.section(name) else { continue };
        let mut name_z = name.as_bytes().to_vec();
        name_z.push(0);
        let desc = utf16z(name);
        events.push(event(11, EV_IPL, format!("section name {name}"), desc.clone(), &name_z, algs));
        let digests = algs.iter().map(|&a| section.loaded_digest(a)).collect();
        events.push(PredictedEvent {
            pcr: 11,
            event_type: EV_IPL,
            description: format!("section {name} ({} bytes)", section.virtual_size()),
            data: desc,
            digests,
        });
    }

    // The initrd the kernel loads: .ucode (256 on), .initrd, the credential
    // archives, then the archives of .pcrsig, .pcrpkey and .osrel (257 on),
    // in the order of stub.c's combine call (from 256 on its INITRD_*).
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    let section_part = |name: &str, parts: &mut Vec<(String, Vec<u8>)>| {
        if let Some(bytes) = uki.loaded(name) {
            parts.push((format!("{name} ({} bytes)", bytes.len()), bytes));
        }
    };
    if uki.stub.loads_ucode() {
        section_part(".ucode", &mut parts);
    }
    section_part(".initrd", &mut parts);
    let has_initrd = uki.pe.section(".initrd").is_some();
    for (files, dir, what) in [
        (&extras.credentials, ".extra/credentials", "Credentials initrd"),
        (&extras.global_credentials, ".extra/global_credentials", "Global credentials initrd"),
    ] {
        if files.is_empty() {
            continue;
        }
        let mut sorted: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let archive = cpio::archive(dir, 0o500, 0o400, &sorted);
        let names: Vec<&str> = sorted.iter().map(|(n, _)| *n).collect();
        events.push(event(12, EV_IPL, format!("{what}: {}", names.join(" ")), utf16z(what), &archive, algs));
        parts.push((format!("/{dir} cpio"), archive));
    }
    let mut generated = vec![(".pcrsig", "tpm2-pcr-signature.json"), (".pcrpkey", "tpm2-pcr-public-key.pem")];
    if uki.stub.passes_osrel() {
        generated.push((".osrel", "os-release"));
    }
    for (name, file) in generated {
        if let Some(bytes) = uki.loaded(name) {
            parts.push((format!("/.extra/{file} cpio"), cpio::extra_file(file, &bytes)));
        }
    }
    if let Some(firmware) = options.firmware {
        events.push(firmware::kernel(firmware, uki, algs)?);
    }

    let cmdline = mangle_cmdline(&uki.loaded(".cmdline").unwrap_or_default());
    let load_options = utf16z(&cmdline);
    events.push(event(
        9,
        EV_EVENT_TAG,
        format!("LoadOptions {cmdline:?}"),
        tagged(LOAD_OPTIONS_EVENT_TAG_ID, "LOADED_IMAGE::LoadOptions"),
        &load_options,
        algs,
    ));

    let mut initrd = Vec::new();
    let combined = uki.stub.combines(parts.len(), has_initrd);
    for (_, bytes) in &parts {
        initrd.extend_from_slice(bytes);
        if combined {
            initrd.resize(initrd.len().next_multiple_of(4), 0);
        }
    }
    if !initrd.is_empty() {
        let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        events.push(event(
            9,
            EV_EVENT_TAG,
            format!("Linux initrd: {}", names.join(" + ")),
            tagged(INITRD_EVENT_TAG_ID, "Linux initrd"),
            &initrd,
            algs,
        ));
    }
    if let Some(d) = &options.initdata {
        // Extended as given, not hashed, and in its own bank only.
        events.push(PredictedEvent {
            pcr: 8,
            event_type: EV_EVENT_TAG,
            description: "initdata digest (the podvm's tpm2_pcrextend, not logged)".into(),
            data: Vec::new(),
            digests: algs.iter().filter(|&&a| a == d.alg()).map(|_| *d).collect(),
        });
    }
    Ok(Prediction { stub_version: uki.version.clone(), algs: algs.to_vec(), events })
}

impl Prediction {
    /// The events as a crypto-agile TCG event log (PC Client Platform
    /// Firmware Profile, section 10.2): a Spec ID header naming the banks,
    /// then one `TCG_PCR_EVENT2` per event.
    pub fn event_log_bytes(&self) -> Vec<u8> {
        let mut spec = Vec::new();
        spec.extend_from_slice(b"Spec ID Event03\0");
        spec.extend_from_slice(&0u32.to_le_bytes()); // platformClass: client
        spec.extend_from_slice(&[0, 2, 0, 2]); // specVersionMinor, Major, errata, uintnSize (64-bit)
        spec.extend_from_slice(&(self.algs.len() as u32).to_le_bytes());
        for a in &self.algs {
            spec.extend_from_slice(&a.tpm_alg_id().to_le_bytes());
            spec.extend_from_slice(&(a.digest_len() as u16).to_le_bytes());
        }
        spec.push(0); // vendorInfoSize
        let mut out = Vec::new();
        out.extend_from_slice(&0u32.to_le_bytes()); // PCR 0
        out.extend_from_slice(&3u32.to_le_bytes()); // EV_NO_ACTION
        out.extend_from_slice(&[0; 20]);
        out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        out.extend_from_slice(&spec);
        for e in &self.events {
            out.extend_from_slice(&e.pcr.to_le_bytes());
            out.extend_from_slice(&e.event_type.to_le_bytes());
            out.extend_from_slice(&(e.digests.len() as u32).to_le_bytes());
            for d in &e.digests {
                out.extend_from_slice(&d.alg().tpm_alg_id().to_le_bytes());
                out.extend_from_slice(d.as_bytes());
            }
            out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&e.data);
        }
        out
    }

    /// The events as a parsed [`EventLog`], ready for replay.
    pub fn event_log(&self) -> EventLog {
        EventLog::parse(&self.event_log_bytes()).expect("a log this crate wrote parses")
    }
}

#[cfg(test)]
mod tests;
