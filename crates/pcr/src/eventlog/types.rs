use std::fmt;

/// A TCG event type (TCG PC Client Platform Firmware Profile, section 10.4.1,
/// table "Events").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(pub u32);

/// The event types of the TCG PC Client Platform Firmware Profile 1.06 with
/// their names as the specification spells them.
const TABLE: &[(u32, &str)] = &[
    (0x0000_0000, "EV_PREBOOT_CERT"),
    (0x0000_0001, "EV_POST_CODE"),
    (0x0000_0002, "EV_UNUSED"),
    (0x0000_0003, "EV_NO_ACTION"),
    (0x0000_0004, "EV_SEPARATOR"),
    (0x0000_0005, "EV_ACTION"),
    (0x0000_0006, "EV_EVENT_TAG"),
    (0x0000_0007, "EV_S_CRTM_CONTENTS"),
    (0x0000_0008, "EV_S_CRTM_VERSION"),
    (0x0000_0009, "EV_CPU_MICROCODE"),
    (0x0000_000A, "EV_PLATFORM_CONFIG_FLAGS"),
    (0x0000_000B, "EV_TABLE_OF_DEVICES"),
    (0x0000_000C, "EV_COMPACT_HASH"),
    (0x0000_000D, "EV_IPL"),
    (0x0000_000E, "EV_IPL_PARTITION_DATA"),
    (0x0000_000F, "EV_NONHOST_CODE"),
    (0x0000_0010, "EV_NONHOST_CONFIG"),
    (0x0000_0011, "EV_NONHOST_INFO"),
    (0x0000_0012, "EV_OMIT_BOOT_DEVICE_EVENTS"),
    (0x0000_0013, "EV_POST_CODE2"),
    (0x8000_0000, "EV_EFI_EVENT_BASE"),
    (0x8000_0001, "EV_EFI_VARIABLE_DRIVER_CONFIG"),
    (0x8000_0002, "EV_EFI_VARIABLE_BOOT"),
    (0x8000_0003, "EV_EFI_BOOT_SERVICES_APPLICATION"),
    (0x8000_0004, "EV_EFI_BOOT_SERVICES_DRIVER"),
    (0x8000_0005, "EV_EFI_RUNTIME_SERVICES_DRIVER"),
    (0x8000_0006, "EV_EFI_GPT_EVENT"),
    (0x8000_0007, "EV_EFI_ACTION"),
    (0x8000_0008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"),
    (0x8000_0009, "EV_EFI_HANDOFF_TABLES"),
    (0x8000_000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"),
    (0x8000_000B, "EV_EFI_HANDOFF_TABLES2"),
    (0x8000_000C, "EV_EFI_VARIABLE_BOOT2"),
    (0x8000_000D, "EV_EFI_GPT_EVENT2"),
    (0x8000_0010, "EV_EFI_HCRTM_EVENT"),
    (0x8000_00E0, "EV_EFI_VARIABLE_AUTHORITY"),
    (0x8000_00E1, "EV_EFI_SPDM_FIRMWARE_BLOB"),
    (0x8000_00E2, "EV_EFI_SPDM_FIRMWARE_CONFIG"),
    (0x8000_00E3, "EV_EFI_SPDM_DEVICE_POLICY"),
    (0x8000_00E4, "EV_EFI_SPDM_DEVICE_AUTHORITY"),
];

impl EventType {
    /// EV_NO_ACTION: informational, never extended into a PCR.
    pub const NO_ACTION: EventType = EventType(0x0000_0003);
    /// EV_SEPARATOR.
    pub const SEPARATOR: EventType = EventType(0x0000_0004);

    /// The specification's name (`EV_SEPARATOR`), or `None` for a type the
    /// specification does not define.
    pub fn name(self) -> Option<&'static str> {
        TABLE.iter().find(|(id, _)| *id == self.0).map(|(_, name)| *name)
    }

    /// The type whose specification name is `name`.
    pub fn from_name(name: &str) -> Option<EventType> {
        TABLE.iter().find(|(_, n)| *n == name).map(|(id, _)| EventType(*id))
    }
}

impl fmt::Display for EventType {
    /// The name, or `EV_UNKNOWN_0x…` for an undefined type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "EV_UNKNOWN_{:#010x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_types_print_their_number() {
        for (id, name) in TABLE {
            assert_eq!(EventType(*id).name(), Some(*name));
            assert_eq!(EventType::from_name(name), Some(EventType(*id)));
        }
        assert_eq!(EventType(0x8000_00e0).to_string(), "EV_EFI_VARIABLE_AUTHORITY");
        assert_eq!(EventType(0x1234).to_string(), "EV_UNKNOWN_0x00001234");
        assert_eq!(EventType::NO_ACTION.name(), Some("EV_NO_ACTION"));
    }
}
