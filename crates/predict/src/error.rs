/// Why a prediction could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The UKI is not a PE/COFF image this reader accepts.
    #[error("the UKI is not a PE/COFF image this reader accepts")]
    Pe(#[from] rvkit_pe::Error),
    /// The UKI's `.linux` section, which the firmware profile's firmware
    /// starts as an image, is not a PE/COFF image.
    #[error("the UKI's .linux section is not a PE/COFF image the firmware can start")]
    LinuxPe(#[source] rvkit_pe::Error),
    /// The UKI lacks a section the boot needs.
    #[error("the UKI has no {0} section")]
    MissingSection(&'static str),
    /// The `.sdmagic` section does not name a systemd-stub version.
    #[error("the UKI's .sdmagic section ({0:?}) does not name a systemd-stub version")]
    NoStubVersion(String),
    /// The stub's version is one whose measurements are not modelled.
    #[error("systemd-stub {version}: only the measurements of stubs 252 to 257 are modelled")]
    UnmodelledStub {
        /// The version string from `.sdmagic`.
        version: String,
    },
    /// The UKI or the ESP holds something whose measurement is not modelled.
    #[error("{0}: its measurement is not modelled, so no prediction is made")]
    Unmodelled(String),
}
