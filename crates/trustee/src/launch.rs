//! The bundle's bare-metal reference values: launch values computed from
//! `[[launch.snp]]` and `[[launch.tdx]]` (by rvkit-launch, as `rvkit launch`
//! computes them) and the files of `reference_values.merge`, merged with
//! the podvm and initdata values by rvkit-rvps's merge, as `rvkit rvps
//! merge` merges files.

use rvkit_launch::Firmware;
use rvkit_launch::report::ValueEncoding;
use rvkit_launch::request::{KernelDigests, Rtmr0Files, snp_report, tdx_report};
use rvkit_pcr::HashAlg;
use rvkit_rvps::{Expiration, Format, Published, ReferenceValue, ReferenceValueSet, RvName, Source};

use crate::{Config, Error, Inputs};

/// `set` with the launch values and merged files added; `set` itself when
/// the configuration has neither.
pub(crate) fn merge_extra(
    config: &Config,
    inputs: &Inputs,
    set: ReferenceValueSet,
    expiration: Expiration,
) -> Result<ReferenceValueSet, Error> {
    if config.launch.is_empty() && config.reference_values.merge.is_empty() {
        return Ok(set);
    }
    let rvps = |label: String| move |source| Error::Rvps { label: label.clone(), source };
    let encoding = if config.launch.base64 { ValueEncoding::Base64 } else { ValueEncoding::Hex };
    let mut sets = vec![(
        "podvm measurements and initdata".to_owned(),
        Published { values: set.values().to_vec(), origin: Source::Payload(Format::Array) },
    )];
    for (i, r) in config.launch.snp.iter().enumerate() {
        let label = format!("launch.snp[{i}] ({})", r.ovmf.display());
        let launch = |source| Error::Launch { label: label.clone(), source };
        let image = inputs.file("launch.snp.ovmf", &r.ovmf)?;
        let fw = Firmware::parse(image).map_err(launch)?;
        let kernel = match &r.kernel {
            Some(k) => {
                let initrd = r.initrd.as_ref().map(|p| inputs.file("launch.snp.initrd", p)).transpose()?;
                Some(KernelDigests::of(inputs.file("launch.snp.kernel", k)?, initrd))
            }
            None => None,
        };
        let report = snp_report(r, &fw, kernel.as_ref(), false).map_err(launch)?;
        let values = values(report.reference_values(encoding), expiration).map_err(rvps(label.clone()))?;
        sets.push((label, values));
    }
    for (i, r) in config.launch.tdx.iter().enumerate() {
        let label = format!("launch.tdx[{i}] ({})", r.ovmf.display());
        let launch = |source| Error::Launch { label: label.clone(), source };
        let fw = Firmware::parse(inputs.file("launch.tdx.ovmf", &r.ovmf)?).map_err(launch)?;
        let initrd = r.initrd.as_ref().map(|p| inputs.file("launch.tdx.initrd", p)).transpose()?;
        let authenticode = match &r.kernel {
            Some(k) => {
                let kernel_error = |e: &dyn std::fmt::Display| Error::Invalid {
                    field: "launch.tdx.kernel".to_owned(),
                    reason: format!("{}: {e}", k.display()),
                };
                let bytes = inputs.file("launch.tdx.kernel", k)?;
                let image =
                    r.kernel_image(bytes, initrd.map(|b| b.len() as u64)).map_err(|e| kernel_error(&e))?;
                let pe = rvkit_pe::PeFile::parse(&image).map_err(|e| kernel_error(&e))?;
                Some(pe.authenticode(HashAlg::Sha384))
            }
            None => None,
        };
        let mut rtmr0 = Rtmr0Files::default();
        for (name, path) in &r.fw_cfg {
            rtmr0.fw_cfg.insert(name.as_str(), inputs.file("launch.tdx.fw_cfg", path)?);
        }
        rtmr0.td_hob = r.td_hob.as_ref().map(|p| inputs.file("launch.tdx.td_hob", p)).transpose()?;
        let initrd_sha384 = initrd.map(|b| HashAlg::Sha384.hash(b));
        let report = tdx_report(r, &fw, authenticode, initrd_sha384, &rtmr0, false).map_err(launch)?;
        let values = values(report.reference_values(encoding), expiration).map_err(rvps(label.clone()))?;
        sets.push((label, values));
    }
    for path in &config.reference_values.merge {
        let label = path.display().to_string();
        let published = rvkit_rvps::read_published(inputs.file("reference_values.merge", path)?)
            .map_err(rvps(label.clone()))?;
        // Every writer of reference values refuses one that has expired.
        let now = inputs.now_unix;
        for rv in published.values.iter().filter(|_| published.has_expirations()) {
            rv.expiration
                .require_future(&format!("the expiration of {}", rv.name), now)
                .map_err(rvps(label.clone()))?;
        }
        sets.push((label, published));
    }
    let merged = rvkit_rvps::merge(&sets, expiration).map_err(rvps("reference values".to_owned()))?;
    ReferenceValueSet::from_values(merged).map_err(rvps("reference values".to_owned()))
}

/// Launch values as reference values expiring at `expiration`.
fn values(
    named: Vec<(&'static str, Vec<String>)>,
    expiration: Expiration,
) -> Result<Published, rvkit_rvps::Error> {
    let values = named
        .into_iter()
        .map(|(name, vals)| Ok(ReferenceValue::new(RvName::new(name)?, expiration, vals.into())))
        .collect::<Result<Vec<_>, rvkit_rvps::Error>>()?;
    Ok(Published { values, origin: Source::Payload(Format::Array) })
}
