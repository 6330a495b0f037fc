//! Reading a query string, beside the body reader: the parameters as FastAPI reads them
//! (a repeated one counts once, with its last value; unknown ones are ignored), one
//! 422 entry `["query", name]` per bad value, and the rules query values share.

use std::collections::HashMap;

use super::RuleError;
use crate::platform::error::{Error, FieldError};

/// Reads the query string `raw`, handing `each` every parameter's name and value in
/// the order the client sent them; a repeated parameter is handed once, with its last
/// value, where that stands. `each` ignores the names it does not know and refuses a
/// bad value with its message and type. A string that is not a query string is a 400;
/// refused values are one 422 listing each of them.
pub fn read(
    raw: Option<&str>,
    mut each: impl FnMut(&str, &str) -> Result<(), RuleError>,
) -> Result<(), Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| Error::BadRequest("the query string is not valid".into()))?;
    let last: HashMap<&str, usize> = pairs
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.as_str(), i))
        .collect();
    let mut errors = Vec::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if last.get(name.as_str()) != Some(&i) {
            continue;
        }
        if let Err((msg, kind)) = each(name, value) {
            errors.push(FieldError::query(name, msg, kind));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// A value of `min..=max` characters (any characters: a query value is only compared).
pub fn text(value: &str, min: usize, max: usize) -> Result<String, RuleError> {
    match value.chars().count() {
        n if n < min => Err((
            format!(
                "String should have at least {min} character{}",
                if min == 1 { "" } else { "s" }
            ),
            "string_too_short",
        )),
        n if n > max => Err((
            format!("String should have at most {max} characters"),
            "string_too_long",
        )),
        _ => Ok(value.to_owned()),
    }
}

/// The spellings FastAPI accepts for a boolean query parameter.
pub fn boolean(value: &str) -> Result<bool, RuleError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(("Input should be a valid boolean".into(), "bool_parsing")),
    }
}

/// A page size from 1 to `max`, worded as pydantic words each way of missing it.
pub fn limit(value: &str, max: u32) -> Result<u32, RuleError> {
    match value.parse::<i64>() {
        Ok(n) if n < 1 => Err((
            "Input should be greater than or equal to 1".into(),
            "greater_than_equal",
        )),
        Ok(n) if n > i64::from(max) => Err((
            format!("Input should be less than or equal to {max}"),
            "less_than_equal",
        )),
        // In range, so it fits.
        Ok(n) => Ok(n as u32),
        Err(_) => Err((
            "Input should be a valid integer, unable to parse string as an integer".into(),
            "int_parsing",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(raw: &str) -> Result<Vec<(String, String)>, Error> {
        let mut seen = Vec::new();
        read(Some(raw), |name, value| {
            if value == "bad" {
                return Err(("bad".into(), "value_error"));
            }
            seen.push((name.to_owned(), value.to_owned()));
            Ok(())
        })?;
        Ok(seen)
    }

    #[test]
    fn a_repeated_parameter_counts_once_with_its_last_value() {
        let seen = read_all("a=1&b=2&a=3").unwrap();
        assert_eq!(seen, [("b".into(), "2".into()), ("a".into(), "3".into())]);
        assert!(read_all("a=bad&a=1").is_ok());
        let Err(Error::Validation(errors)) = read_all("a=bad&b=bad&c=1") else {
            panic!("expected a 422");
        };
        let names: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn rules() {
        assert_eq!(
            text("", 1, 64).unwrap_err().0,
            "String should have at least 1 character"
        );
        assert_eq!(
            text(&"가".repeat(65), 1, 64).unwrap_err().1,
            "string_too_long"
        );
        assert_eq!(text(&"가".repeat(64), 1, 64).unwrap(), "가".repeat(64));
        assert_eq!(boolean("On"), Ok(true));
        assert!(boolean("maybe").is_err());
        assert_eq!(limit("1000", 1000), Ok(1000));
        assert_eq!(limit("0", 1000).unwrap_err().1, "greater_than_equal");
        assert_eq!(limit("1001", 1000).unwrap_err().1, "less_than_equal");
        assert_eq!(limit("ten", 1000).unwrap_err().1, "int_parsing");
    }
}
