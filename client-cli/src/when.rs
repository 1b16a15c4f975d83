//! Times as people type them: `2026-12-08 18:00` (local), `2026-12-08`,
//! RFC 3339, Unix milliseconds, or relative to now: `+2h` (ahead), `-7d`
//! (ago), `now`.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};

const FORMS: &str =
    "use `2026-12-08 18:00`, `2026-12-08`, RFC 3339, Unix milliseconds, `+2h`, `-7d` or `now`";

pub fn parse(input: &str) -> Result<DateTime<Utc>, String> {
    parse_at(input, Utc::now())
}

/// As [`parse`], but a bare day (`2026-12-08`) means its last millisecond:
/// the end of a window that includes that day.
pub fn parse_until(input: &str) -> Result<DateTime<Utc>, String> {
    let at = parse(input)?;
    if NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d").is_err() {
        return Ok(at);
    }
    at.with_timezone(&Local)
        .checked_add_days(chrono::Days::new(1))
        .and_then(|next| next.checked_sub_signed(TimeDelta::milliseconds(1)))
        .map(|end| end.with_timezone(&Utc))
        .ok_or_else(|| format!("{input:?} is too far off"))
}

/// As [`parse`], with `now` given (for tests).
pub fn parse_at(input: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let input = input.trim();
    if input == "now" {
        return Ok(now);
    }
    if !input.is_empty() && input.bytes().all(|b| b.is_ascii_digit()) {
        return input
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| format!("{input:?} is too far off"));
    }
    if let Some(sign @ ('+' | '-')) = input.chars().next() {
        let delta =
            relative(&input[1..]).ok_or_else(|| format!("cannot read {input:?}: {FORMS}"))?;
        let at = if sign == '+' {
            now.checked_add_signed(delta)
        } else {
            now.checked_sub_signed(delta)
        };
        return at.ok_or_else(|| format!("{input:?} is too far off"));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(input) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|form| NaiveDateTime::parse_from_str(input, form).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(input, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| format!("cannot read {input:?} as a time: {FORMS}"))?;
    Local
        .from_local_datetime(&local)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| format!("{input:?} does not exist in the local time zone"))
}

/// `90m`, `2h`, `3d`, `1w`.
fn relative(text: &str) -> Option<TimeDelta> {
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    match unit {
        'm' => TimeDelta::try_minutes(n),
        'h' => TimeDelta::try_hours(n),
        'd' => TimeDelta::try_days(n),
        'w' => TimeDelta::try_weeks(n),
        _ => None,
    }
}

/// Milliseconds since 1970, as the protocol counts time.
pub fn millis(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn relative_times_count_from_now() {
        let at = |s| parse_at(s, now()).unwrap().to_rfc3339();
        assert_eq!(at("+90m"), "2026-12-01T13:30:00+00:00");
        assert_eq!(at("+2h"), "2026-12-01T14:00:00+00:00");
        assert_eq!(at("-7d"), "2026-11-24T12:00:00+00:00");
        assert_eq!(at("+1w"), "2026-12-08T12:00:00+00:00");
        assert_eq!(at("now"), "2026-12-01T12:00:00+00:00");
        assert_eq!(at("2026-12-08T18:00:00+01:00"), "2026-12-08T17:00:00+00:00");
    }

    #[test]
    fn local_dates_and_times_read() {
        let local = parse_at("2026-12-08 18:00", now())
            .unwrap()
            .with_timezone(&Local);
        assert_eq!(
            local.format("%Y-%m-%d %H:%M").to_string(),
            "2026-12-08 18:00"
        );
        let day = parse_at("2026-12-08", now()).unwrap().with_timezone(&Local);
        assert_eq!(day.format("%Y-%m-%d %H:%M").to_string(), "2026-12-08 00:00");
    }

    #[test]
    fn unix_milliseconds_and_whole_days_as_an_end() {
        let at = parse_at("1796126400000", now()).unwrap();
        assert_eq!(at, now());
        let end = parse_until("2026-12-08").unwrap().with_timezone(&Local);
        assert_eq!(
            end.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            "2026-12-08 23:59:59.999"
        );
        assert_eq!(parse_until("1796126400000").unwrap(), now());
    }

    #[test]
    fn anything_else_says_what_is_accepted() {
        for bad in ["tomorrow", "+2x", "+h", "-", "2026-13-01", ""] {
            let err = parse_at(bad, now()).unwrap_err();
            assert!(
                err.contains("2026-12-08 18:00") || err.contains("too far"),
                "{bad}: {err}"
            );
        }
    }
}
