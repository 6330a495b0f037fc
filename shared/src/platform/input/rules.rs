//! The contract's string rules (text, names, usernames, URLs, phone numbers, GitHub
//! logins, e-mail addresses, generations) that a [`Rule`](super::Rule) checks, for the
//! fields of every resource; they know no table. Lengths count characters
//! (Unicode scalar values), not bytes. Each rule returns the value to store, or the
//! message and pydantic-style error type of a 422.

/// A failed rule: `(msg, type)`.
pub type RuleError = (String, &'static str);

fn too_long(max: usize) -> RuleError {
    (
        format!("String should have at most {max} characters"),
        "string_too_long",
    )
}

fn too_short(min: usize) -> RuleError {
    (
        format!("String should have at least {min} characters"),
        "string_too_short",
    )
}

/// `value` as it is when it `matches` its pattern, else a `string_pattern_mismatch`
/// saying `msg`.
fn matching(value: &str, matches: bool, msg: &str) -> Result<String, RuleError> {
    if matches {
        Ok(value.to_owned())
    } else {
        Err((msg.into(), "string_pattern_mismatch"))
    }
}

/// Any text of `min..=max` characters.
pub fn text(value: &str, min: usize, max: usize) -> Result<String, RuleError> {
    let count = value.chars().count();
    if count < min {
        return Err(too_short(min));
    }
    if count > max {
        return Err(too_long(max));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err((
            "String must not contain control characters".into(),
            "value_error",
        ));
    }
    Ok(value.to_owned())
}

/// A name that must say something: at least `min` characters, not only spaces.
pub fn name(value: &str, min: usize, max: usize) -> Result<String, RuleError> {
    let value = text(value, min, max)?;
    if min > 0 && value.trim().is_empty() {
        return Err(too_short(min));
    }
    if value.contains(['\n', '\r', '\t']) {
        return Err(("String must be a single line".into(), "value_error"));
    }
    Ok(value)
}

/// 4–50 ASCII letters, digits, `_`, `-`, `.`.
pub fn username(value: &str) -> Result<String, RuleError> {
    let count = value.chars().count();
    if count < 4 {
        return Err(too_short(4));
    }
    if count > 50 {
        return Err(too_long(50));
    }
    matching(
        value,
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')),
        "Username may contain only ASCII letters, digits, '_', '-' and '.'",
    )
}

/// An absolute `http` or `https` URL of at most `max` characters.
pub fn http_url(value: &str, max: usize) -> Result<String, RuleError> {
    if value.chars().count() > max {
        return Err(too_long(max));
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    let valid = host.is_some_and(|h| !h.is_empty() && !h.starts_with(':'))
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(("URL must be an absolute http(s) URL".into(), "url_parsing"));
    }
    Ok(value.to_owned())
}

/// A Korean mobile number: `-` and spaces dropped, `+82` becomes `0`, then
/// `^01[016789][0-9]{7,8}$`; stored as digits.
pub fn phone_number(value: &str) -> Result<String, RuleError> {
    normalize_phone(value)
        .filter(|n| is_mobile(n, b"016789"))
        .ok_or_else(|| {
            (
                "Phone number must be a Korean mobile number such as 010-1234-5678".into(),
                "string_pattern_mismatch",
            )
        })
}

/// Drops `-` and spaces and turns a leading `+82` into `0`. `None` for non-digits.
pub fn normalize_phone(value: &str) -> Option<String> {
    let compact: String = value.chars().filter(|c| *c != '-' && *c != ' ').collect();
    let national = match compact.strip_prefix("+82") {
        Some(rest) => format!("0{rest}"),
        None => compact,
    };
    national
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then_some(national)
}

/// `01X` followed by 7 or 8 digits, where X is one of `third_digits`.
pub fn is_mobile(digits: &str, third_digits: &[u8]) -> bool {
    let bytes = digits.as_bytes();
    (10..=11).contains(&bytes.len())
        && bytes.starts_with(b"01")
        && third_digits.contains(&bytes[2])
        && bytes.iter().all(u8::is_ascii_digit)
}

/// A GitHub login: 1–39 letters, digits and single inner hyphens.
pub fn github_login(value: &str) -> Result<String, RuleError> {
    matching(
        value,
        is_github_login(value),
        "GitHub id must be 1-39 letters, digits or single inner hyphens",
    )
}

pub fn is_github_login(value: &str) -> bool {
    is_token(value, 39, b"-")
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--")
}

/// 1 to `max` bytes, each an ASCII letter, a digit or one of `punctuation`: the shape
/// of the logins, ids and host names that go on into headers, links and logs.
pub fn is_token(value: &str, max: usize, punctuation: &[u8]) -> bool {
    (1..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || punctuation.contains(&b))
}

/// An e-mail address of at most 50 characters.
pub fn email(value: &str) -> Result<String, RuleError> {
    if value.chars().count() > 50 {
        return Err(too_long(50));
    }
    let valid = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(value.to_owned())
    } else {
        Err(("value is not a valid email address".into(), "value_error"))
    }
}

/// `^[0-9]{1,2}(\.5)?$`, e.g. `19` or `19.5`.
pub fn generation(value: &str) -> Result<String, RuleError> {
    matching(
        value,
        is_generation(value),
        "Generation must be one or two digits, optionally followed by .5",
    )
}

pub fn is_generation(value: &str) -> bool {
    let whole = value.strip_suffix(".5").unwrap_or(value);
    (1..=2).contains(&whole.len()) && whole.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        let korean = "가".repeat(30);
        assert!(name(&korean, 1, 30).is_ok(), "30 Korean characters fit");
        assert_eq!(
            name(&"가".repeat(31), 1, 30).unwrap_err().1,
            "string_too_long"
        );
        assert_eq!(name("   ", 1, 30).unwrap_err().1, "string_too_short");
        assert!(name("", 0, 30).is_ok());
    }

    #[test]
    fn usernames() {
        assert!(username("waffle.studio_19-x").is_ok());
        assert_eq!(username("abc").unwrap_err().1, "string_too_short");
        assert_eq!(username(&"a".repeat(51)).unwrap_err().1, "string_too_long");
        assert_eq!(
            username("와플스튜디오").unwrap_err().1,
            "string_pattern_mismatch"
        );
        assert_eq!(
            username("has space").unwrap_err().1,
            "string_pattern_mismatch"
        );
    }

    #[test]
    fn phone_numbers_are_normalised() {
        assert_eq!(phone_number("010-1234-5678").unwrap(), "01012345678");
        assert_eq!(phone_number("+82 10 1234 5678").unwrap(), "01012345678");
        assert_eq!(phone_number("0161234567").unwrap(), "0161234567");
        assert!(phone_number("02-123-4567").is_err());
        assert!(phone_number("010-1234-56789").is_err());
        assert!(phone_number("010-12a4-5678").is_err());
        assert!(phone_number("0121234567").is_err());
    }

    #[test]
    fn github_logins() {
        assert!(github_login("octo-cat").is_ok());
        assert!(github_login(&"a".repeat(39)).is_ok());
        for bad in ["", "-octo", "octo-", "oc--to", "octo_cat", &"a".repeat(40)] {
            assert!(github_login(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_emails_generations() {
        assert!(http_url("https://example.com/a.png", 200).is_ok());
        assert!(http_url("http://localhost:8080", 200).is_ok());
        for bad in ["ftp://x", "https://", "javascript:alert(1)", "https://a b"] {
            assert!(http_url(bad, 200).is_err(), "{bad}");
        }
        assert!(email("kim@snu.ac.kr").is_ok());
        for bad in ["kim", "kim@", "@snu.ac.kr", "kim@snu", "a b@c.d"] {
            assert!(email(bad).is_err(), "{bad}");
        }
        for good in ["1", "19", "19.5", "0.5"] {
            assert!(generation(good).is_ok(), "{good}");
        }
        for bad in ["", "123", "19.0", "19.", ".5", "a"] {
            assert!(generation(bad).is_err(), "{bad}");
        }
    }
}
