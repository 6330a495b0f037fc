//! The common crate of every waffledotcom function, in two modules:
//!
//! - [`platform`]: what a function needs whatever resource it serves: HTTP layers and
//!   the Lambda entry point, errors, configuration, the pool, schema revisions (the
//!   machinery; the SQL is in `migrations/`), identity and the extractors, request input
//!   and its string rules, compression, telemetry, OpenAPI pieces, AWS access, `AppState`.
//! - [`domain`]: the member directory: users, the audit log, batch runs, and the `Admin`
//!   extractor.
//!
//! The rule: the platform never depends on the domain; the domain uses the platform. A
//! module went to the domain when it reads or writes the directory's tables. Two used to
//! mix both and were split:
//!
//! - `extract`: `JsonObject`, `PathId`, `PathIds` stay in `platform::extract`; `Admin`
//!   (which looks the caller up in `user`) and `AdminCaller` moved to `domain::admin`.
//! - `users::fields`, the string rules `input::Rule` checks (text, username, URL, phone,
//!   e-mail, generation), knows no table and is what the platform's input reader
//!   dispatches to, so it moved to `platform::input::rules`.
//!
//! `AppState` holds only the pool and the configuration, so it is platform. The rule is
//! checked by the `platform_never_names_the_domain` test below.

pub mod domain;
pub mod platform;

pub use platform::config::Config;
pub use platform::db::Database;
pub use platform::error::{Error, FieldError, Result};
pub use platform::identity::{Identity, MaybeIdentity};
pub use platform::state::AppState;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The places in `code` (comments stripped) where `domain` is a path segment:
    /// `crate::domain`, `super::domain::…`, `shared::domain`, or a name in a `use` group
    /// (`use crate::{domain, …}`). A local called `domain` is not one.
    fn names_the_domain(code: &str) -> bool {
        let bytes = code.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        code.match_indices("domain").any(|(at, _)| {
            let end = at + "domain".len();
            if (at > 0 && word(bytes[at - 1])) || bytes.get(end).copied().is_some_and(word) {
                return false;
            }
            let before = code[..at].trim_end().as_bytes().last().copied();
            let after = code[end..].trim_start().as_bytes().first().copied();
            before == Some(b':')
                || after == Some(b':')
                || (matches!(before, Some(b'{' | b',')) && matches!(after, Some(b',' | b'}')))
        })
    }

    fn platform_sources(dir: &Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read src/platform") {
            let path = entry.expect("an entry of src/platform").path();
            if path.is_dir() {
                platform_sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read a source");
                found.push((path.display().to_string(), text));
            }
        }
    }

    /// The platform never depends on the domain: no source under `src/platform` names it.
    #[test]
    fn platform_never_names_the_domain() {
        let mut sources = Vec::new();
        platform_sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/platform"),
            &mut sources,
        );
        assert!(sources.len() > 10, "found the platform's sources");
        let offenders: Vec<String> = sources
            .iter()
            .flat_map(|(path, text)| {
                let code: String = text
                    .lines()
                    .map(|line| line.split("//").next().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\n");
                names_the_domain(&code).then(|| path.clone())
            })
            .collect();
        assert!(
            offenders.is_empty(),
            "the platform names the domain in {offenders:?}"
        );
    }

    #[test]
    fn the_check_sees_each_way_of_naming_the_domain() {
        for code in [
            "use crate::domain::users;",
            "use crate::{\n    domain,\n    platform::error::Error,\n};",
            "super::super::domain::audit::record()",
            "use shared::domain;",
        ] {
            assert!(names_the_domain(code), "{code}");
        }
        for code in [
            "let (local, domain) = split(value);",
            "domain.contains('.')",
            "let subdomain = 1;",
        ] {
            assert!(!names_the_domain(code), "{code}");
        }
    }
}
