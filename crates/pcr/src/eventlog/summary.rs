//! One-line accounts of event data, following the structures of the TCG PC
//! Client Platform Firmware Profile (section 10.4) and the UEFI
//! specification (device paths, section 10.3; load options, section 3.1.3).
//!
//! Every decoder works on untrusted bytes: it checks each length against what
//! remains and falls back to a hex excerpt when the data does not have the
//! shape its event type promises. Strings are printed with Rust's debug
//! escaping so control characters from the log cannot reach a terminal.

use super::EventType;

/// How many bytes of undecodable data a summary shows in hex.
const HEX_EXCERPT: usize = 32;
/// How many device-path nodes are decoded before giving up.
const MAX_NODES: usize = 64;

/// Formats a GUID stored in the UEFI layout (first three fields little
/// endian) as `8be4df61-93ca-11d2-aa0d-00e098032b8c`.
pub fn guid_to_string(g: &[u8; 16]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        g[8],
        g[9],
        hex::encode(&g[10..16])
    )
}

/// Well-known GUIDs by name (UEFI specification and PI specification).
fn guid_name(g: &str) -> Option<&'static str> {
    Some(match g {
        "8be4df61-93ca-11d2-aa0d-00e098032b8c" => "EFI_GLOBAL_VARIABLE",
        "d719b2cb-3d3a-4596-a3bc-dad00e67656f" => "EFI_IMAGE_SECURITY_DATABASE",
        "605dab50-e046-4300-abb6-3dd810dd8b23" => "SHIM_LOCK",
        "8868e871-e4f1-11d3-bc22-0080c73c8881" => "ACPI_20_TABLE",
        "eb9d2d30-2d88-11d3-9a16-0090273fc14d" => "ACPI_TABLE",
        "eb9d2d31-2d88-11d3-9a16-0090273fc14d" => "SMBIOS_TABLE",
        "f2fd1544-9794-4a2c-992e-e5bbcf20e394" => "SMBIOS3_TABLE",
        "a5c059a1-94e4-4aa7-87b5-ab155c2bf072" => "EFI_CERT_X509",
        "c1c41626-504c-4092-aca9-41f936934328" => "EFI_CERT_SHA256",
        _ => return None,
    })
}

fn guid_at(data: &[u8], at: usize) -> Option<String> {
    let g: &[u8; 16] = data.get(at..at + 16)?.try_into().ok()?;
    Some(guid_to_string(g))
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// Bytes as a hex excerpt with the total length.
fn hex_excerpt(data: &[u8]) -> String {
    if data.is_empty() {
        return "no data".to_owned();
    }
    let shown = &data[..data.len().min(HEX_EXCERPT)];
    let more = if data.len() > HEX_EXCERPT { "…" } else { "" };
    format!("{} bytes: {}{more}", data.len(), hex::encode(shown))
}

/// Printable ASCII text (NUL padding at the end allowed), if `data` is that.
fn ascii(data: &[u8]) -> Option<String> {
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let text = &data[..end];
    if text.is_empty()
        || !text.iter().all(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t'))
    {
        return None;
    }
    Some(String::from_utf8_lossy(text).into_owned())
}

/// UTF-16LE text (NUL-terminated or not), if `data` looks like that: an even
/// length and printable code units.
fn utf16(data: &[u8]) -> Option<String> {
    if data.len() < 2 || !data.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    let s = String::from_utf16(&units[..end]).ok()?;
    if s.is_empty() || s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return None;
    }
    Some(s)
}

/// A string from bytes that may be ASCII or UTF-16LE.
fn text(data: &[u8]) -> Option<String> {
    // UTF-16 first: ASCII text in UTF-16 has NUL bytes, which ascii() refuses
    // unless they are trailing padding.
    let looks_utf16 = data.len() >= 4 && data.iter().skip(1).step_by(2).all(|&b| b == 0);
    if looks_utf16 { utf16(data).or_else(|| ascii(data)) } else { ascii(data) }
}

/// A one-line account of an event's data, by event type.
pub fn summarize(event_type: EventType, data: &[u8]) -> String {
    let s = match event_type.name() {
        Some("EV_NO_ACTION") => no_action(data),
        Some("EV_SEPARATOR") => Some(separator(data)),
        Some(
            "EV_POST_CODE"
            | "EV_POST_CODE2"
            | "EV_S_CRTM_VERSION"
            | "EV_S_CRTM_CONTENTS"
            | "EV_IPL"
            | "EV_ACTION"
            | "EV_EFI_ACTION"
            | "EV_COMPACT_HASH"
            | "EV_OMIT_BOOT_DEVICE_EVENTS",
        ) => text(data).map(|t| format!("{t:?}")).or_else(|| blob(data)),
        Some(
            "EV_EFI_VARIABLE_DRIVER_CONFIG"
            | "EV_EFI_VARIABLE_BOOT"
            | "EV_EFI_VARIABLE_BOOT2"
            | "EV_EFI_VARIABLE_AUTHORITY",
        ) => variable(data),
        Some(
            "EV_EFI_BOOT_SERVICES_APPLICATION"
            | "EV_EFI_BOOT_SERVICES_DRIVER"
            | "EV_EFI_RUNTIME_SERVICES_DRIVER",
        ) => image_load(data),
        Some("EV_EFI_PLATFORM_FIRMWARE_BLOB") => blob(data),
        Some("EV_EFI_PLATFORM_FIRMWARE_BLOB2") => blob2(data),
        Some("EV_EFI_HANDOFF_TABLES") => handoff_tables(data),
        Some("EV_EFI_GPT_EVENT" | "EV_EFI_GPT_EVENT2") => gpt(data),
        Some("EV_EVENT_TAG") => tagged(data),
        _ => None,
    };
    s.unwrap_or_else(|| text(data).map(|t| format!("{t:?}")).unwrap_or_else(|| hex_excerpt(data)))
}

fn no_action(data: &[u8]) -> Option<String> {
    let sig = data.get(..16)?;
    let name = String::from_utf8_lossy(sig.split(|&b| b == 0).next().unwrap_or_default()).into_owned();
    match name.as_str() {
        "StartupLocality" if data.len() == 17 => Some(format!("StartupLocality {}", data[16])),
        "Spec ID Event03" => Some("Spec ID Event03 (crypto-agile log header)".to_owned()),
        _ if !name.is_empty() && name.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            Some(format!("{name:?}, {} bytes", data.len()))
        }
        _ => None,
    }
}

fn separator(data: &[u8]) -> String {
    match data {
        [0, 0, 0, 0] => "separator".to_owned(),
        [0xff, 0xff, 0xff, 0xff] | [1, 0, 0, 0] => format!("error separator {}", hex::encode(data)),
        _ => format!("separator, {}", hex_excerpt(data)),
    }
}

fn blob(data: &[u8]) -> Option<String> {
    if data.len() != 16 {
        return None;
    }
    Some(format!("base {:#x}, length {:#x}", u64_at(data, 0)?, u64_at(data, 8)?))
}

fn blob2(data: &[u8]) -> Option<String> {
    let n = usize::from(*data.first()?);
    let desc = data.get(1..1 + n)?;
    let rest = data.get(1 + n..)?;
    Some(format!("{:?}, {}", text(desc).unwrap_or_default(), blob(rest)?))
}

fn handoff_tables(data: &[u8]) -> Option<String> {
    let n = u64_at(data, 0)?;
    // Each table entry is a GUID and a pointer: 24 bytes.
    if n > (data.len() as u64 - 8) / 24 {
        return None;
    }
    let names: Vec<String> = (0..n as usize)
        .filter_map(|i| guid_at(data, 8 + i * 24))
        .map(|g| guid_name(&g).map_or(g, str::to_owned))
        .collect();
    Some(format!("{n} table(s): {}", names.join(", ")))
}

fn gpt(data: &[u8]) -> Option<String> {
    // UEFI_PARTITION_TABLE_HEADER is 92 bytes; the disk GUID is at 56 and
    // the partition count follows the header.
    if data.get(..8)? != b"EFI PART" {
        return None;
    }
    let disk = guid_at(data, 56)?;
    let n = u64_at(data, 92)?;
    Some(format!("GPT disk {disk}, {n} partition(s)"))
}

fn tagged(data: &[u8]) -> Option<String> {
    let id = u32_at(data, 0)?;
    let size = u32_at(data, 4)? as usize;
    let body = data.get(8..8usize.checked_add(size)?)?;
    let shown = text(body).map(|t| format!("{t:?}")).unwrap_or_else(|| hex_excerpt(body));
    Some(format!("tag {id:#010x}: {shown}"))
}

/// UEFI_VARIABLE_DATA: GUID, name length (chars), data length, name, data.
fn variable(data: &[u8]) -> Option<String> {
    let guid = guid_at(data, 0)?;
    let name_len = usize::try_from(u64_at(data, 16)?).ok()?;
    let data_len = usize::try_from(u64_at(data, 24)?).ok()?;
    let name_end = 32usize.checked_add(name_len.checked_mul(2)?)?;
    let name = utf16(data.get(32..name_end)?).unwrap_or_default();
    let value = data.get(name_end..name_end.checked_add(data_len)?)?;
    let ns = guid_name(&guid).map_or(guid.clone(), str::to_owned);
    let shown = variable_value(&name, &guid, value);
    Some(format!("{name:?} ({ns}): {shown}"))
}

fn variable_value(name: &str, guid: &str, value: &[u8]) -> String {
    let global = guid == "8be4df61-93ca-11d2-aa0d-00e098032b8c";
    if global && name == "BootOrder" && value.len().is_multiple_of(2) {
        let order: Vec<String> =
            value.chunks_exact(2).map(|c| format!("Boot{:04X}", u16::from_le_bytes([c[0], c[1]]))).collect();
        return order.join(",");
    }
    if global
        && name.len() == 8
        && name.starts_with("Boot")
        && name[4..].bytes().all(|b| b.is_ascii_hexdigit())
        && let Some(s) = load_option(value)
    {
        return s;
    }
    if value.len() == 1 {
        return format!("{}", value[0]);
    }
    if let Some(s) = signature_lists(value) {
        return s;
    }
    hex_excerpt(value)
}

/// EFI_LOAD_OPTION: attributes, path list length, description, device path.
fn load_option(v: &[u8]) -> Option<String> {
    let attrs = u32_at(v, 0)?;
    let path_len = usize::from(u16_at(v, 4)?);
    let mut i = 6;
    let mut units = Vec::new();
    loop {
        let u = u16_at(v, i)?;
        i += 2;
        if u == 0 {
            break;
        }
        units.push(u);
    }
    let desc = String::from_utf16_lossy(&units);
    let path = device_path(v.get(i..i.checked_add(path_len)?)?);
    let active = if attrs & 1 == 1 { "" } else { " (inactive)" };
    Some(format!("{desc:?} {path}{active}"))
}

/// EFI_SIGNATURE_LIST headers: the count of lists and entries.
fn signature_lists(v: &[u8]) -> Option<String> {
    let (mut at, mut lists, mut entries) = (0usize, 0usize, 0usize);
    let mut kinds: Vec<&'static str> = Vec::new();
    while at < v.len() {
        let ty = guid_at(v, at)?;
        let list_size = u32_at(v, at + 16)? as usize;
        let header_size = u32_at(v, at + 20)? as usize;
        let sig_size = u32_at(v, at + 24)? as usize;
        let body = list_size.checked_sub(28)?.checked_sub(header_size)?;
        if sig_size == 0 || list_size < 28 || at.checked_add(list_size)? > v.len() {
            return None;
        }
        entries += body / sig_size;
        lists += 1;
        let kind = match guid_name(&ty) {
            Some("EFI_CERT_X509") => "x509",
            Some("EFI_CERT_SHA256") => "sha256",
            _ => "other",
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
        at += list_size;
    }
    if lists == 0 {
        return None;
    }
    Some(format!("{lists} signature list(s), {entries} entr(ies) ({})", kinds.join(", ")))
}

/// UEFI_IMAGE_LOAD_EVENT: location, length, link-time address, path length,
/// device path.
fn image_load(data: &[u8]) -> Option<String> {
    let length = u64_at(data, 8)?;
    let path_len = usize::try_from(u64_at(data, 24)?).ok()?;
    let path = data.get(32..32usize.checked_add(path_len)?)?;
    Some(format!("{} ({length} bytes in memory)", device_path(path)))
}

/// A UEFI device path as text, in the spirit of the UEFI specification's
/// text representation (section 10.6) for the common node types.
pub(crate) fn device_path(p: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut at = 0;
    while at + 4 <= p.len() && parts.len() < MAX_NODES {
        let (ty, sub) = (p[at], p[at + 1]);
        let len = usize::from(u16::from_le_bytes([p[at + 2], p[at + 3]]));
        if len < 4 || at + len > p.len() {
            parts.push(format!("<bad node at byte {at}>"));
            break;
        }
        let body = &p[at + 4..at + len];
        at += len;
        if ty == 0x7f {
            if sub == 0xff {
                break;
            }
            parts.push(",".to_owned());
            continue;
        }
        parts.push(node(ty, sub, body));
    }
    if parts.is_empty() { "empty device path".to_owned() } else { parts.join("/").replace("/,/", ",") }
}

fn node(ty: u8, sub: u8, b: &[u8]) -> String {
    let s = match (ty, sub) {
        (0x01, 0x01) if b.len() == 2 => Some(format!("Pci({:#x},{:#x})", b[1], b[0])),
        (0x01, 0x04) => guid_at(b, 0).map(|g| format!("VenHw({g})")),
        (0x02, 0x01) if b.len() >= 8 => {
            let (hid, uid) = (u32_at(b, 0).unwrap_or(0), u32_at(b, 4).unwrap_or(0));
            Some(match hid {
                0x0a03_41d0 => format!("PciRoot({uid:#x})"),
                0x0a08_41d0 => format!("PcieRoot({uid:#x})"),
                _ => format!("Acpi({hid:#x},{uid:#x})"),
            })
        }
        (0x03, 0x02) if b.len() >= 4 => {
            Some(format!("Scsi({:#x},{:#x})", u16_at(b, 0).unwrap_or(0), u16_at(b, 2).unwrap_or(0)))
        }
        (0x03, 0x05) if b.len() >= 2 => Some(format!("USB({:#x},{:#x})", b[0], b[1])),
        (0x03, 0x0b) if b.len() >= 6 => Some(format!("MAC({})", hex::encode(&b[..6]))),
        (0x03, 0x0a) => guid_at(b, 0).map(|g| format!("VenMsg({g})")),
        (0x03, 0x12) if b.len() >= 6 => Some(format!(
            "Sata({:#x},{:#x},{:#x})",
            u16_at(b, 0).unwrap_or(0),
            u16_at(b, 2).unwrap_or(0),
            u16_at(b, 4).unwrap_or(0)
        )),
        (0x03, 0x17) if b.len() >= 12 => {
            Some(format!("NVMe({:#x},{})", u32_at(b, 0).unwrap_or(0), hex::encode(&b[4..12])))
        }
        (0x03, 0x18) => ascii(b).map(|u| format!("Uri({u})")),
        (0x04, 0x01) if b.len() >= 38 => {
            let n = u32_at(b, 0).unwrap_or(0);
            match b[37] {
                2 => guid_at(b, 20).map(|g| format!("HD({n},GPT,{g})")),
                1 => Some(format!("HD({n},MBR,{:#010x})", u32_at(b, 20).unwrap_or(0))),
                _ => Some(format!("HD({n})")),
            }
        }
        (0x04, 0x03) => guid_at(b, 0).map(|g| format!("VenMedia({g})")),
        (0x04, 0x04) => utf16(b),
        (0x04, 0x06) => guid_at(b, 0).map(|g| format!("FvFile({g})")),
        (0x04, 0x07) => guid_at(b, 0).map(|g| format!("Fv({g})")),
        (0x04, 0x08) if b.len() >= 20 => {
            Some(format!("Offset({:#x},{:#x})", u64_at(b, 4).unwrap_or(0), u64_at(b, 12).unwrap_or(0)))
        }
        _ => None,
    };
    s.unwrap_or_else(|| format!("Path({ty:#04x},{sub:#04x},{})", hex::encode(b)))
}

#[cfg(test)]
mod tests {
    use super::super::testlog::{GLOBAL, uefi_variable};
    use super::*;

    fn ty(name: &str) -> EventType {
        EventType::from_name(name).unwrap()
    }

    #[test]
    fn guids_print_in_registry_form() {
        assert_eq!(guid_to_string(&GLOBAL), "8be4df61-93ca-11d2-aa0d-00e098032b8c");
    }

    #[test]
    fn variables_show_name_namespace_and_value() {
        let sb = uefi_variable(GLOBAL, "SecureBoot", &[1]);
        assert_eq!(
            summarize(ty("EV_EFI_VARIABLE_DRIVER_CONFIG"), &sb),
            "\"SecureBoot\" (EFI_GLOBAL_VARIABLE): 1"
        );
        let order = uefi_variable(GLOBAL, "BootOrder", &[1, 0, 0, 0]);
        assert_eq!(
            summarize(ty("EV_EFI_VARIABLE_BOOT"), &order),
            "\"BootOrder\" (EFI_GLOBAL_VARIABLE): Boot0001,Boot0000"
        );
        // Boot0000 with description "UEFI Shell" and a firmware-file path.
        let mut opt = 1u32.to_le_bytes().to_vec();
        let mut path = vec![0x04, 0x06, 20, 0];
        path.extend_from_slice(&GLOBAL);
        path.extend_from_slice(&[0x7f, 0xff, 4, 0]);
        opt.extend_from_slice(&(path.len() as u16).to_le_bytes());
        for u in "UEFI Shell\0".encode_utf16() {
            opt.extend_from_slice(&u.to_le_bytes());
        }
        opt.extend_from_slice(&path);
        let v = uefi_variable(GLOBAL, "Boot0000", &opt);
        assert_eq!(
            summarize(ty("EV_EFI_VARIABLE_BOOT"), &v),
            "\"Boot0000\" (EFI_GLOBAL_VARIABLE): \"UEFI Shell\" FvFile(8be4df61-93ca-11d2-aa0d-00e098032b8c)"
        );
    }

    #[test]
    fn image_paths_and_strings() {
        let mut path = vec![0x02, 0x01, 12, 0];
        path.extend_from_slice(&0x0a03_41d0u32.to_le_bytes());
        path.extend_from_slice(&0u32.to_le_bytes());
        path.extend_from_slice(&[0x01, 0x01, 6, 0, 0, 2]);
        let file: Vec<u8> = "\\EFI\\BOOT\\BOOTX64.EFI\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
        path.extend_from_slice(&[0x04, 0x04, (4 + file.len()) as u8, 0]);
        path.extend_from_slice(&file);
        path.extend_from_slice(&[0x7f, 0xff, 4, 0]);
        let mut ev = vec![0u8; 32];
        ev[8..16].copy_from_slice(&4096u64.to_le_bytes());
        ev[24..32].copy_from_slice(&(path.len() as u64).to_le_bytes());
        ev.extend_from_slice(&path);
        assert_eq!(
            summarize(ty("EV_EFI_BOOT_SERVICES_APPLICATION"), &ev),
            "PciRoot(0x0)/Pci(0x2,0x0)/\\EFI\\BOOT\\BOOTX64.EFI (4096 bytes in memory)"
        );
        assert_eq!(summarize(ty("EV_IPL"), b"grub_cmd: linux /vmlinuz\0"), "\"grub_cmd: linux /vmlinuz\"");
        let v16: Vec<u8> = "1.0\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(summarize(ty("EV_S_CRTM_VERSION"), &v16), "\"1.0\"");
        assert_eq!(summarize(ty("EV_SEPARATOR"), &[0, 0, 0, 0]), "separator");
        assert_eq!(summarize(ty("EV_POST_CODE"), &[0xff, 0, 0x10]), "3 bytes: ff0010");
        let mut loc = b"StartupLocality\0".to_vec();
        loc.push(3);
        assert_eq!(summarize(EventType::NO_ACTION, &loc), "StartupLocality 3");
        assert_eq!(summarize(ty("EV_EFI_ACTION"), b"\x1b[2J"), "4 bytes: 1b5b324a");
    }

    #[test]
    fn malformed_data_falls_back_to_hex() {
        let mut sb = uefi_variable(GLOBAL, "SecureBoot", &[1]);
        sb[16] = 0xff; // name length far beyond the data
        let shown = summarize(ty("EV_EFI_VARIABLE_DRIVER_CONFIG"), &sb);
        assert!(shown.starts_with(&format!("{} bytes: ", sb.len())), "{shown}");
        assert_eq!(device_path(&[0x04, 0x04, 2, 0]), "<bad node at byte 0>");
        assert_eq!(summarize(ty("EV_EFI_BOOT_SERVICES_DRIVER"), &[]), "no data");
    }
}
