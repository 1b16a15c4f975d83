//! Field rules shared by every method: what a handle, slug, title or body
//! may be. Each failure names the field and the rule.

use crate::error::{ApiError, ApiResult};

pub const MAX_TITLE_CHARS: usize = 200;
/// A resolution's `summary`.
pub const MAX_SUMMARY_CHARS: usize = 1000;
/// A reflection's `usefulness`.
pub const USEFULNESS: std::ops::RangeInclusive<u8> = 1..=5;
pub const MAX_TAGS: usize = 8;
/// A circle's norms: a page of text, not a handbook.
pub const MAX_NORMS_BYTES: usize = 8 * 1024;
/// The most problems a meeting's agenda may name.
pub const MAX_AGENDA: usize = 20;
pub const MAX_TAG_CHARS: usize = 32;
pub const HISTORY_DEFAULT: u32 = 50;
pub const HISTORY_MAX: u32 = 200;

pub fn handle(handle: &str) -> ApiResult<()> {
    let ok_chars = handle
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if (2..=32).contains(&handle.len()) && ok_chars {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "handle {handle:?} must be 2 to 32 characters of a-z, 0-9, _ and -"
        )))
    }
}

pub fn password(password: &str) -> ApiResult<()> {
    if password.len() < 8 {
        Err(ApiError::invalid("password must be at least 8 bytes"))
    } else if password.len() > 1024 {
        Err(ApiError::too_large("password must be at most 1024 bytes"))
    } else {
        Ok(())
    }
}

/// Absent: the handle. Present: 1 to 64 characters after trimming.
pub fn display_name(name: Option<String>, handle: &str) -> ApiResult<String> {
    match name {
        None => Ok(handle.to_owned()),
        Some(name) => line("display_name", &name, 64),
    }
}

pub fn slug(slug: &str) -> ApiResult<()> {
    let bytes = slug.as_bytes();
    let ok_chars = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let ok_ends =
        bytes.first().is_some_and(|b| *b != b'-') && bytes.last().is_some_and(|b| *b != b'-');
    if (2..=40).contains(&slug.len()) && ok_chars && ok_ends {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "slug {slug:?} must be 2 to 40 characters of a-z, 0-9 and -, not starting or ending with -"
        )))
    }
}

/// Trimmed, not empty, at most `max` characters.
pub fn line(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(format!("{field} must not be empty")));
    }
    chars_at_most(field, value, max)?;
    Ok(value.to_owned())
}

pub fn chars_at_most(field: &str, value: &str, max: usize) -> ApiResult<()> {
    let count = value.chars().count();
    if count > max {
        Err(ApiError::too_large(format!(
            "{field} is {count} characters; the limit is {max}"
        )))
    } else {
        Ok(())
    }
}

/// Optional text: trimmed, at most `max` characters; blank is `None`.
pub fn optional_text(field: &str, value: &str, max: usize) -> ApiResult<Option<String>> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    chars_at_most(field, value, max)?;
    Ok(Some(value.to_owned()))
}

/// A post body: at most `max` bytes (the server's `max_post_bytes`);
/// `required` bodies must have some text.
pub fn body(field: &str, value: &str, required: bool, max: usize) -> ApiResult<String> {
    if value.len() > max {
        return Err(ApiError::too_large(format!(
            "{field} is {} bytes; this server's limit is {max}",
            value.len()
        )));
    }
    if required && value.trim().is_empty() {
        return Err(ApiError::invalid(format!("{field} must not be empty")));
    }
    Ok(value.to_owned())
}

/// Lowercased, deduplicated, each 1-32 characters without whitespace.
pub fn tags(tags: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags.unwrap_or_default() {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() {
            return Err(ApiError::invalid("tags must not be empty"));
        }
        if tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ApiError::invalid(format!(
                "tag {tag:?} must be a single word without spaces"
            )));
        }
        chars_at_most("a tag", &tag, MAX_TAG_CHARS)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::too_large(format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert!(handle("ana").is_ok());
        assert!(handle("a_b-9").is_ok());
        for bad in ["a", "Ana", "ana!", "", &"x".repeat(33), "an a"] {
            assert!(handle(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn slugs() {
        assert!(slug("school-librarians").is_ok());
        for bad in ["-x", "x-", "a", "A-b", "a_b", &"x".repeat(41)] {
            assert!(slug(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_are_normalised() {
        let t = tags(Some(vec!["Python".into(), "python".into(), " c++ ".into()])).unwrap();
        assert_eq!(t, vec!["python", "c++"]);
        assert!(tags(Some(vec!["two words".into()])).is_err());
        assert!(tags(Some((0..9).map(|i| i.to_string()).collect())).is_err());
    }

    #[test]
    fn bodies() {
        assert_eq!(body("body", "", false, 10).unwrap(), "");
        assert!(body("body", "  ", true, 10).is_err());
        let err = body("body", &"x".repeat(16 * 1024 + 1), false, 16 * 1024).unwrap_err();
        assert_eq!(err.kind, circles_protocol::ErrorKind::TooLarge);
    }
}
