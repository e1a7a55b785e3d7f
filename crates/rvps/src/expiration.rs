use std::fmt;
use std::str::FromStr;

use crate::Error;

/// An expiration time in the only form Trustee's RVPS parses:
/// `YYYY-MM-DDTHH:MM:SSZ`, always UTC, whole seconds.
///
/// Upstream reads it with chrono's `%Y-%m-%dT%H:%M:%SZ`, which also takes
/// one-digit fields and leap seconds; this type accepts only the canonical
/// spelling (four-digit year, two-digit fields, capital `T` and `Z`, a real
/// calendar date, seconds 00–59), so every value it holds prints back the way
/// it was read and is read by every Trustee version. Years run from 0000 to
/// 9999 (proleptic Gregorian calendar).
///
/// ```
/// use rvkit_rvps::Expiration;
///
/// let e: Expiration = "2028-02-29T00:00:00Z".parse()?;
/// assert_eq!(e.to_string(), "2028-02-29T00:00:00Z");
/// assert!("2027-02-29T00:00:00Z".parse::<Expiration>().is_err());
/// # Ok::<(), rvkit_rvps::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Expiration {
    // Seconds since 1970-01-01T00:00:00Z, kept within MIN_UNIX..=MAX_UNIX.
    unix: i64,
}

const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z.
const MIN_UNIX: i64 = days_from_civil(0, 1, 1) * SECS_PER_DAY;
/// 9999-12-31T23:59:59Z.
const MAX_UNIX: i64 = days_from_civil(9999, 12, 31) * SECS_PER_DAY + SECS_PER_DAY - 1;

impl Expiration {
    /// The earliest representable value, `0000-01-01T00:00:00Z`.
    pub const MIN: Expiration = Expiration { unix: MIN_UNIX };
    /// The latest representable value, `9999-12-31T23:59:59Z`.
    pub const MAX: Expiration = Expiration { unix: MAX_UNIX };

    /// The expiration at `secs` seconds after the Unix epoch, saturating at
    /// [`Expiration::MIN`] and [`Expiration::MAX`].
    pub fn from_unix(secs: i64) -> Expiration {
        Expiration { unix: secs.clamp(MIN_UNIX, MAX_UNIX) }
    }

    /// Seconds since the Unix epoch.
    pub fn to_unix(&self) -> i64 {
        self.unix
    }

    /// The default expiration of values made at `now_unix`: midnight UTC,
    /// 12 months later, as Trustee's own default.
    pub fn default_at(now_unix: i64) -> Expiration {
        Expiration::months_after_midnight(now_unix, 12)
    }

    /// Midnight (UTC) of the day `months` calendar months after the UTC date
    /// of `now_unix`; the day is clamped to the end of a shorter month
    /// (31 January + 1 month = 28 or 29 February). This is the default
    /// expiration: Trustee's own default is 12 months after creation.
    /// Saturates at 9999-12-31T00:00:00Z.
    pub fn months_after_midnight(now_unix: i64, months: u32) -> Expiration {
        let now = now_unix.clamp(MIN_UNIX, MAX_UNIX);
        let (y, m, d) = civil_from_days(now.div_euclid(SECS_PER_DAY));
        let total = y * 12 + i64::from(m - 1) + i64::from(months);
        let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
        if ny > 9999 {
            return Expiration { unix: days_from_civil(9999, 12, 31) * SECS_PER_DAY };
        }
        let nd = d.min(days_in_month(ny, nm));
        Expiration { unix: days_from_civil(ny, nm, nd) * SECS_PER_DAY }
    }

    /// This expiration, if it lies after `now_unix`; otherwise
    /// [`Error::Expired`], naming it as `what` (the flag or configuration
    /// field that gave it). Reference values are published to be compared
    /// later, and Trustee ignores those past their expiration, so every
    /// writer of reference values refuses one that has already passed.
    ///
    /// ```
    /// use rvkit_rvps::Expiration;
    ///
    /// let e: Expiration = "2020-01-01T00:00:00Z".parse()?;
    /// let now = 1_767_225_600; // 2026-01-01T00:00:00Z
    /// assert_eq!(
    ///     e.require_future("--expiration", now).unwrap_err().to_string(),
    ///     "--expiration is 2020-01-01T00:00:00Z, which is not in the future"
    /// );
    /// assert!(Expiration::from_unix(now + 1).require_future("--expiration", now).is_ok());
    /// # Ok::<(), rvkit_rvps::Error>(())
    /// ```
    pub fn require_future(self, what: &str, now_unix: i64) -> Result<Expiration, Error> {
        if self.unix <= now_unix {
            return Err(Error::Expired { what: what.to_owned(), at: self });
        }
        Ok(self)
    }

    /// The calendar fields: year, month, day, hour, minute, second.
    pub fn fields(&self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.unix.div_euclid(SECS_PER_DAY);
        let secs = self.unix.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (secs / 3600, (secs / 60) % 60, secs % 60);
        (y, m, d, hh as u32, mm as u32, ss as u32)
    }
}

impl fmt::Display for Expiration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = self.fields();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

impl FromStr for Expiration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Expiration, Error> {
        let bad = |reason| Error::BadExpiration { input: s.to_owned(), reason };
        const SHAPE: &[u8; 20] = b"dddd-dd-ddTdd:dd:ddZ";
        let b = s.as_bytes();
        if b.len() != SHAPE.len() {
            return Err(bad("expected exactly YYYY-MM-DDTHH:MM:SSZ (UTC, no fractions or offsets)"));
        }
        for (&c, &want) in b.iter().zip(SHAPE) {
            let ok = if want == b'd' { c.is_ascii_digit() } else { c == want };
            if !ok {
                return Err(bad("expected exactly YYYY-MM-DDTHH:MM:SSZ (UTC, no fractions or offsets)"));
            }
        }
        let num = |range: std::ops::Range<usize>| {
            b[range].iter().fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
        };
        let (y, mo, d) = (i64::from(num(0..4)), num(5..7), num(8..10));
        let (h, mi, sec) = (num(11..13), num(14..16), num(17..19));
        if !(1..=12).contains(&mo) {
            return Err(bad("month must be 01 to 12"));
        }
        if d == 0 || d > days_in_month(y, mo) {
            return Err(bad("day does not exist in that month"));
        }
        if h > 23 {
            return Err(bad("hour must be 00 to 23"));
        }
        if mi > 59 {
            return Err(bad("minute must be 00 to 59"));
        }
        if sec > 59 {
            return Err(bad("second must be 00 to 59"));
        }
        let unix = days_from_civil(y, mo, d) * SECS_PER_DAY
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(sec);
        Ok(Expiration { unix })
    }
}

impl serde::Serialize for Expiration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Expiration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Expiration, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant,
/// "chrono-Compatible Low-Level Date Algorithms").
const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn e(s: &str) -> Result<Expiration, Error> {
        s.parse()
    }

    #[test]
    fn canonical_form_round_trips() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2027-12-12T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(e(s).unwrap().to_string(), s);
        }
        assert_eq!(e("1970-01-01T00:00:00Z").unwrap().to_unix(), 0);
        assert_eq!(e("1969-12-31T23:59:59Z").unwrap().to_unix(), -1);
        // 2027-12-12T00:00:00Z, the walkthrough's expiration, per `date -u -d`.
        assert_eq!(e("2027-12-12T00:00:00Z").unwrap().to_unix(), 1_828_569_600);
        assert_eq!(Expiration::MIN.to_string(), "0000-01-01T00:00:00Z");
        assert_eq!(Expiration::MAX.to_string(), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn other_forms_are_refused() {
        for s in [
            "2027-12-12",
            "2027-12-12T00:00:00.5Z",
            "2027-12-12T00:00:00+01:00",
            "2027-12-12T00:00:00+00:00",
            "2027-12-12T00:00:00",
            "2027-12-12t00:00:00Z",
            "2027-12-12T00:00:00z",
            "2027-12-12 00:00:00Z",
            "2027-2-12T00:00:00Z",
            " 2027-12-12T00:00:00Z",
            "2027-12-12T00:00:00Z ",
            "+2027-12-12T00:00:00Z",
            "２027-12-12T00:00:00Z",
            "",
        ] {
            assert!(
                matches!(e(s), Err(Error::BadExpiration { ref input, .. }) if input == s),
                "{s:?} was accepted"
            );
        }
    }

    #[test]
    fn calendar_is_checked() {
        for (s, ok) in [
            ("2027-02-29T00:00:00Z", false),
            ("2028-02-29T00:00:00Z", true),
            ("2100-02-29T00:00:00Z", false),
            ("2000-02-29T00:00:00Z", true),
            ("2027-02-30T00:00:00Z", false),
            ("2027-04-31T00:00:00Z", false),
            ("2027-04-30T00:00:00Z", true),
            ("2027-13-01T00:00:00Z", false),
            ("2027-00-01T00:00:00Z", false),
            ("2027-01-00T00:00:00Z", false),
            ("2027-01-01T24:00:00Z", false),
            ("2027-01-01T23:60:00Z", false),
            ("2027-01-01T23:59:60Z", false),
        ] {
            assert_eq!(e(s).is_ok(), ok, "{s}");
        }
    }

    #[test]
    fn months_are_added_to_the_date_at_midnight() {
        let t = |s: &str| e(s).unwrap().to_unix();
        let m = |now: &str, n| Expiration::months_after_midnight(t(now), n).to_string();
        assert_eq!(m("2026-05-17T13:14:15Z", 12), "2027-05-17T00:00:00Z");
        assert_eq!(m("2026-01-31T23:59:59Z", 1), "2026-02-28T00:00:00Z");
        assert_eq!(m("2027-01-31T00:00:00Z", 1), "2027-02-28T00:00:00Z");
        assert_eq!(m("2028-01-31T00:00:00Z", 1), "2028-02-29T00:00:00Z");
        assert_eq!(m("2024-02-29T08:00:00Z", 12), "2025-02-28T00:00:00Z");
        assert_eq!(m("2026-12-15T00:00:00Z", 1), "2027-01-15T00:00:00Z");
        assert_eq!(m("2026-03-31T00:00:00Z", 0), "2026-03-31T00:00:00Z");
        assert_eq!(m("1969-12-31T23:00:00Z", 2), "1970-02-28T00:00:00Z");
        assert_eq!(m("2026-01-01T00:00:00Z", u32::MAX), "9999-12-31T00:00:00Z");
        assert_eq!(Expiration::months_after_midnight(i64::MIN, 0), Expiration::MIN);
    }

    #[test]
    fn from_unix_saturates() {
        assert_eq!(Expiration::from_unix(i64::MAX), Expiration::MAX);
        assert_eq!(Expiration::from_unix(i64::MIN), Expiration::MIN);
        assert!(Expiration::from_unix(0) < Expiration::from_unix(1));
    }

    /// Cross-checks the calendar arithmetic against GNU `date`.
    #[test]
    fn agrees_with_gnu_date() {
        if !rvkit_test_support::require("date") {
            return;
        }
        let mut secs: i64 = -2_208_988_800; // 1900-01-01
        let mut stamps = Vec::new();
        while secs < 32_503_680_000 {
            // 3000-01-01
            stamps.push(secs);
            secs += 7_777_777_777 / 97;
        }
        stamps.extend([951_782_400, 951_868_799, 4_107_542_400, -1]);
        let input: String = stamps.iter().map(|s| format!("@{s}\n")).collect();
        let out =
            rvkit_test_support::pipe("date", &["-u", "-f", "-", "+%Y-%m-%dT%H:%M:%SZ"], input.as_bytes());
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), stamps.len());
        for (s, line) in stamps.iter().zip(lines) {
            assert_eq!(Expiration::from_unix(*s).to_string(), line, "@{s}");
            assert_eq!(e(line).unwrap().to_unix(), *s);
        }
    }

    proptest! {
        #[test]
        fn unix_round_trip(secs in MIN_UNIX..=MAX_UNIX) {
            let x = Expiration::from_unix(secs);
            prop_assert_eq!(x.to_unix(), secs);
            let s = x.to_string();
            prop_assert_eq!(s.len(), 20);
            prop_assert_eq!(e(&s).unwrap(), x);
        }

        #[test]
        fn months_land_on_midnight_after_now(
            now in -10_000_000_000i64..100_000_000_000,
            months in 0u32..2400,
        ) {
            let x = Expiration::months_after_midnight(now, months);
            prop_assert_eq!(x.to_unix().rem_euclid(SECS_PER_DAY), 0);
            if months > 0 {
                prop_assert!(x.to_unix() > now);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = e(&s);
        }

        #[test]
        fn parse_never_panics_near_shape(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z") {
            if let Ok(x) = e(&s) {
                prop_assert_eq!(x.to_string(), s);
            }
        }
    }
}
