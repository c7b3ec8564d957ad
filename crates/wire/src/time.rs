//! Date-time rendering (api-v1 §2.4): ISO-8601 in the server time zone, microseconds
//! when non-zero, `Z` for UTC and `+hh:mm` for other zones.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

/// Renders `t` as CVAT does in time zone `tz`.
pub fn render(t: DateTime<Utc>, tz: Tz) -> String {
    let fmt = if t.timestamp_subsec_micros() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Micros
    };
    if tz == Tz::UTC {
        t.to_rfc3339_opts(fmt, true)
    } else {
        t.with_timezone(&tz).to_rfc3339_opts(fmt, false)
    }
}

/// Parses any ISO-8601 / RFC 3339 date-time a client may send (`Z`, offsets, with or
/// without fractions; a naive time is taken as UTC).
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_cvat() {
        let t = parse("2020-08-13T01:45:53.569Z").unwrap();
        assert_eq!(render(t, Tz::UTC), "2020-08-13T01:45:53.569000Z");
        assert_eq!(
            render(t, chrono_tz::Asia::Shanghai),
            "2020-08-13T09:45:53.569000+08:00"
        );
        let whole = parse("2020-08-04T05:02:23Z").unwrap();
        assert_eq!(render(whole, Tz::UTC), "2020-08-04T05:02:23Z");
        let micro = parse("2020-08-03T09:49:09.829369Z").unwrap();
        assert_eq!(render(micro, Tz::UTC), "2020-08-03T09:49:09.829369Z");
    }

    #[test]
    fn parses_offsets_and_naive() {
        let a = parse("2020-08-13T09:45:53.569+08:00").unwrap();
        let b = parse("2020-08-13T01:45:53.569").unwrap();
        assert_eq!(a, b);
        assert!(parse("yesterday").is_none());
    }
}
