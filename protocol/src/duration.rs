//! How a span of time reads to people, the same wherever Circles shows one:
//! the case studies the server writes and the figures the terminal prints.

use crate::Millis;

/// `less than a minute`, `5 min`, `2 h 5 min`, `3 d 4 h` (rounded down).
pub fn spoken(ms: Millis) -> String {
    let minutes = ms / 60_000;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => "less than a minute".into(),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::spoken;

    #[test]
    fn reads_in_the_largest_two_units() {
        let min = 60_000;
        assert_eq!(spoken(59_999), "less than a minute");
        assert_eq!(spoken(5 * min), "5 min");
        assert_eq!(spoken(120 * min), "2 h");
        assert_eq!(spoken(125 * min), "2 h 5 min");
        assert_eq!(spoken(3 * 1440 * min + 59 * min), "3 d");
        assert_eq!(spoken((3 * 1440 + 4 * 60 + 5) * min), "3 d 4 h");
    }
}
